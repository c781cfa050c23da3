// mrv-agent: one binary, one subcommand per job.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
  using namespace mrv::agent;
  CLI::App app{"mrv-agent: signed, hash-chained meter readings for MRV (JCM and alike)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mrv-agent 0.1.0");

  std::filesystem::path config, out, file;
  std::string algorithm = "ed25519";
  std::vector<std::filesystem::path> public_keys;
  bool json = false;
  double duration_s = 0;

  auto* run = app.add_subcommand("run", "Collect, sign and journal readings until SIGINT/SIGTERM");
  run->add_option("--config", config, "Agent config file (TOML)")->required()->check(CLI::ExistingFile);
  run->add_option("--duration", duration_s, "Stop by itself after this many seconds (demos, tests)")
      ->check(CLI::NonNegativeNumber);

  auto* check = app.add_subcommand("check-config", "Validate a config file; print every error");
  check->add_option("--config", config, "Config file to check")->required();

  auto* kg = app.add_subcommand("keygen", "Create a signing key (mode 0600); print its public key");
  kg->add_option("--out", out, "Private key file to create (never overwritten)")->required();
  kg->add_option("--algorithm", algorithm, "ed25519 (default) or ecdsa-p256")
      ->check(CLI::IsMember({"ed25519", "ecdsa-p256"}));
  bool keygen_tpm = false;
  std::string keygen_tcti;
  kg->add_flag("--tpm", keygen_tpm,
               "Make an ECDSA P-256 key inside the TPM (OpenSSL's tpm2 provider); --out is then a TSS2 "
               "private key that only this TPM can use");
  kg->add_option("--tcti", keygen_tcti,
                 "With --tpm: how to reach the TPM, as [signing] tpm_tcti (default: TPM2OPENSSL_TCTI, else "
                 "the TSS default)");

  auto* ta = app.add_subcommand("tpm-activate",
                                "Prove to the registry that the TPM key's attestation key is in this TPM: register the key, "
                                "send its TPM key statement, answer the registry's challenge in the TPM");
  ta->add_option("--config", config, "Agent config file (its [signing] TPM key and [upload] registry)")
      ->required()
      ->check(CLI::ExistingFile);

  auto* st = app.add_subcommand("status", "Journal, chain and per-point state");
  st->add_option("--config", config, "Agent config file")->required()->check(CLI::ExistingFile);
  st->add_flag("--json", json, "Machine-readable output");

  ExportArgs ea;
  auto* ex = app.add_subcommand("export", "Write the records of a time range: a verifier bundle (default), "
                                          "NDJSON or OCMF");
  ex->add_option("--config", ea.config, "Agent config file")->required()->check(CLI::ExistingFile);
  ex->add_option("--from", ea.from, "Start, inclusive (YYYY-MM-DD, RFC 3339 or epoch ms); required unless --report");
  ex->add_option("--to", ea.to, "End, exclusive; required unless --report");
  ex->add_option("--out", ea.out, "File to write")->required();
  ex->add_option("--format", ea.format,
                 "bundle: .tar.gz with checkpoints and proofs (docs/verification.md); ndjson: records only "
                 "(docs/record-format.md); ocmf: begin/end register readings (docs/ocmf.md)")
      ->check(CLI::IsMember({"bundle", "ndjson", "ocmf"}));
  ex->add_option("--since-checkpoint", ea.since_checkpoint,
                 "A checkpoint you already hold: the bundle proves it is consistent with this one")
      ->check(CLI::ExistingFile);
  ex->add_option("--report", ea.report,
                 "A signed monitoring report (mrv-agent report): carried in the bundle, so verify recomputes it; "
                 "the range defaults to the records it read")
      ->check(CLI::ExistingFile);
  ex->add_flag("--quarantine", ea.quarantine,
               "Export the quarantined (bad) messages received in the range instead, as NDJSON");

  std::filesystem::path since;
  auto* vf = app.add_subcommand("verify", "Check a bundle or an export: signatures, chain, checkpoints, proofs");
  vf->add_option("file", file, "Bundle (.tar.gz) or export (NDJSON)")->required()->check(CLI::ExistingFile);
  vf->add_option("--public-key", public_keys,
                 "Public key (PEM) obtained out of band, never from the file; repeatable "
                 "(required for an NDJSON export)")
      ->check(CLI::ExistingFile);
  std::vector<std::filesystem::path> registry_keys;
  auto* registry_key_option =
      vf->add_option("--registry-key", registry_keys,
                     "A registry's public key (PEM): it may sign the manifest of a bundle downloaded from that "
                     "registry, never records, and its cosignatures of checkpoints are checked; repeatable")
          ->check(CLI::ExistingFile);
  bool require_cosigned = false;
  vf->add_flag("--require-cosigned", require_cosigned,
               "Fail unless the closing checkpoint, or a later one consistent with it, is cosigned by a "
               "--registry-key (the registry held that tree)")
      ->needs(registry_key_option);
  vf->add_option("--since-checkpoint", since, "A checkpoint you hold: the bundle must be consistent with it")
      ->check(CLI::ExistingFile);
  vf->add_flag("--json", json, "Machine-readable output");
  std::filesystem::path tpm_ca;
  vf->add_option("--tpm-ca", tpm_ca,
                 "TPM manufacturers' CA certificates (PEM): check each key's TPM statement against them "
                 "(key held in a TPM: verified / not claimed / claimed but unverifiable)")
      ->check(CLI::ExistingFile);

  ReportArgs ra;
  auto* rp = app.add_subcommand("report", "The monitoring report of one period: parameters, emission reductions, "
                                          "gaps and calibration (docs/report-format.md)");
  rp->add_option("--config", ra.config, "Agent config file with a [monitoring] section")->required()->check(CLI::ExistingFile);
  rp->add_option("--period", ra.period, "Name of a [[monitoring.periods]] entry")->required();
  rp->add_option("--format", ra.format, "json: signed, machine-readable (default); csv: a JCM monitoring sheet; "
                                        "html: a printable page with charts; xlsx: the JCM Monitoring Report Sheet "
                                        "workbook with live formulas, and beside it (OUT with .json) the signed "
                                        "JSON it names (docs/jcm-submission.md)")
      ->check(CLI::IsMember({"json", "csv", "html", "xlsx"}));
  rp->add_option("--out", ra.out, "File to write")->required();
  rp->add_flag("--no-upload", ra.no_upload,
               "Do not post the signed report to the registry of [upload] (only --format json is posted)");

  EvidenceArgs ev;
  auto* evd = app.add_subcommand("evidence", "The verifier's evidence pack of one period: a folder with a summary "
                                             "page, the signed report and its renderings, the verifier bundle, the "
                                             "documents the site records name, and SHA256SUMS "
                                             "(docs/verification.md)");
  evd->add_option("--config", ev.config, "Agent config file with a [monitoring] section")->required()->check(CLI::ExistingFile);
  evd->add_option("--period", ev.period, "Name of a [[monitoring.periods]] entry")->required();
  evd->add_option("--out", ev.out, "Folder to create (written aside, then renamed into place)")->required();
  evd->add_flag("--force", ev.force, "Replace the folder if it exists and is not empty");

  // record KIND: a person's site record; record list: those in the journal.
  RecordArgs rec;
  std::string list_kind;
  auto* rc = app.add_subcommand("record", "Enter a site record signed into the journal: a manual reading, a meter "
                                          "exchange, a calibration, a document or a note (docs/operations.md)");
  rc->require_subcommand(1);
  auto kind_command = [&](const char* name, const char* what) {
    auto* k = rc->add_subcommand(name, what);
    k->add_option("--config", rec.config, "Agent config file")->required()->check(CLI::ExistingFile);
    k->add_option("--by", rec.by, "The person who enters it (default: your login)");
    k->add_option("--id", rec.id, "The entry's id (32 hex), to retry an entry whose answer was lost: "
                                  "stored once (default: a new random id)");
    k->callback([&rec, name] { rec.kind = name; });
    return k;
  };
  auto point_options = [&](CLI::App* k) {
    k->add_option("--point", rec.point, "The point it is about");
    k->add_option("--meter", rec.meter, "... or the meter serial of that point (meter_serial in the config)");
  };
  auto at_option = [&](CLI::App* k, const char* what) {
    k->add_option("--at", rec.at, what);
  };
  auto* mr = kind_command("manual-reading", "A register read off a meter's display");
  point_options(mr);
  at_option(mr, "When it was read: RFC 3339 with offset, epoch ms, or a date (local midnight of [monitoring] "
                "time_zone); default now");
  mr->add_option("--value", rec.value, "The register as read (decimal text)")->required();
  mr->add_option("--unit", rec.unit, "Its unit (default: the point's)");
  mr->add_option("--serial", rec.serial, "The meter's serial (default: the point's meter_serial)");
  mr->add_option("--photo", rec.photo, "A photo of the display: its SHA-256 is recorded");
  mr->add_option("--comment", rec.comment, "A comment");
  auto* mx = kind_command("meter-exchange", "A meter replaced: the old meter's final and the new one's initial register");
  point_options(mx);
  at_option(mx, "When it was exchanged (default now)");
  mx->add_option("--old-serial", rec.old_serial, "The old meter's serial (default: the point's meter_serial)");
  mx->add_option("--old-final", rec.old_final, "The old meter's final register")->required();
  mx->add_option("--new-serial", rec.new_serial, "The new meter's serial")->required();
  mx->add_option("--new-initial", rec.new_initial, "The new meter's initial register")->required();
  mx->add_option("--unit", rec.unit, "The registers' unit (default: the point's)");
  mx->add_option("--comment", rec.comment, "A comment");
  auto* cb = kind_command("calibration", "A meter's calibration and its certificate");
  point_options(cb);
  at_option(cb, "The calibration date (a date, or a time)");
  cb->add_option("--serial", rec.serial, "The calibrated meter's serial (default: the point's meter_serial)");
  cb->add_option("--laboratory", rec.laboratory, "The laboratory")->required();
  cb->add_option("--certificate-number", rec.certificate_number, "The certificate's number")->required();
  cb->add_option("--certificate", rec.certificate, "The certificate's file: its SHA-256 is recorded")->required();
  cb->add_option("--error-percent", rec.error_percent, "The error found, in %")->required();
  cb->add_option("--result", rec.result, "pass or fail")->required()->check(CLI::IsMember({"pass", "fail"}));
  cb->add_option("--next-due", rec.next_due, "The next calibration's due date (YYYY-MM-DD): covered through that day")
      ->required();
  cb->add_option("--comment", rec.comment, "A comment");
  auto* dc = kind_command("document", "An invoice or sales statement: its period, quantity and file");
  dc->add_option("--type", rec.type, "invoice, sales-statement or other")
      ->required()->check(CLI::IsMember({"invoice", "sales-statement", "other"}));
  dc->add_option("--number", rec.number, "The document's number")->required();
  dc->add_option("--issuer", rec.issuer, "Who issued it")->required();
  dc->add_option("--from", rec.from, "The period's first day (a date: local midnight) or start time")->required();
  dc->add_option("--to", rec.to, "The period's last day, included (a date), or its end time, excluded")->required();
  dc->add_option("--quantity", rec.quantity, "The quantity it states (decimal text)")->required();
  dc->add_option("--unit", rec.unit, "The quantity's unit")->required();
  dc->add_option("--file", rec.file, "The document's file: its SHA-256 and name are recorded")->required();
  dc->add_option("--parameter", rec.parameter, "The [monitoring] parameter it evidences");
  dc->add_option("--comment", rec.comment, "A comment");
  auto* nt = kind_command("note", "A note, such as what caused an outage");
  point_options(nt);
  at_option(nt, "The start of what it explains (default now)");
  nt->add_option("--to", rec.to, "The end of what it explains");
  nt->add_option("--text", rec.text, "The note")->required();
  auto* rl = rc->add_subcommand("list", "The site records in the journal: seq, time, kind, point, who, summary");
  rl->add_option("--config", config, "Agent config file")->required()->check(CLI::ExistingFile);
  rl->add_option("--kind", list_kind, "Only this kind");

  std::string device;
  auto* mb = app.add_subcommand("modbus-read",
                                "Read one device's registers once; print raw and decoded values");
  mb->add_option("--config", config, "Agent config file")->required()->check(CLI::ExistingFile);
  mb->add_option("--device", device, "Device name from [[sources.modbus.devices]]")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  try {
    if (*run) return run_daemon(config, duration_s);
    if (*check) return check_config(config);
    if (*kg)
      return keygen(out, keygen_tpm && kg->count("--algorithm") == 0 ? "ecdsa-p256" : algorithm, keygen_tpm, keygen_tcti);
    if (*ta) return tpm_activate(config);
    if (*st) return status(config, json);
    if (*ex) return export_records(ea);
    if (*vf) return verify(file, public_keys, registry_keys, since, json, tpm_ca, require_cosigned);
    if (*mb) return modbus_read(config, device);
    if (*rp) return report(ra);
    if (*evd) return evidence_pack(ev);
    if (*rl) return record_list(config, list_kind);
    if (*rc) return record(rec);
  } catch (const std::exception& e) {
    // Expected failures return results; this is a bug, but still a clean exit.
    std::cerr << "mrv-agent: internal error: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitUsage;
}
