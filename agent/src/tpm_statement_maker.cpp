#include "tpm_statement_maker.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "mrv/core/crypto.hpp"
#include "tpm_tools.hpp"

namespace mrv::agent {

struct TpmStatementSession::Impl {
  std::filesystem::path key_file;
  TpmTools tools;
  std::string ek_alg;
  bool made = false;
  Impl(std::filesystem::path key, std::string tcti) : key_file(std::move(key)), tools(std::move(tcti)) {}
};

TpmStatementSession::TpmStatementSession(std::filesystem::path key_file, std::string tcti)
    : impl_(std::make_unique<Impl>(std::filesystem::absolute(key_file), std::move(tcti))) {}

TpmStatementSession::~TpmStatementSession() = default;

Result<std::string> TpmStatementSession::make_statement() {
  Impl& s = *impl_;
  TpmTools& t = s.tools;
  // The attestation key kept since keygen (under its EK), else a new one under the EK
  // whose certificate the TPM holds: the RSA 2048 one (TCG NV index), else the ECC P-256 one.
  auto kept = load_kept_ak(t, s.key_file);
  if (!kept && kept.error().code != ErrorCode::not_found) return tl::unexpected(kept.error());
  s.ek_alg = kept ? t.read("ek.alg") : "rsa";
  auto ek_cert = [&](const std::string& alg) {
    return t.step({"tpm2_nvread", alg == "rsa" ? "0x01c00002" : "0x01c0000a", "-o", "ek.der"});
  };
  auto read = ek_cert(s.ek_alg);
  if (!read && !kept) read = ek_cert(s.ek_alg = "ecc");
  if (!read)
    return fail(ErrorCode::not_found, "tpm", "the TPM holds no EK certificate (NV 0x01c00002 or 0x01c0000a): " +
                                                  read.error().message);
  std::vector<std::vector<std::string>> steps;
  if (!kept)
    steps = {{"tpm2_createek", "-c", "ek.ctx", "-G", s.ek_alg, "-u", "ek.pub"},
             {"tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256", "-s", "ecdsa", "-u",
              "ak.pub", "-r", "ak.priv", "-f", "tss", "-n", "ak.name"}};
  steps.push_back({"tpm2_load", "-r", s.key_file.string(), "-c", "key.ctx"});
  steps.push_back({"tpm2_readpublic", "-c", "key.ctx", "-o", "key.pub", "-f", "tss"});
  steps.push_back({"tpm2_certify", "-c", "key.ctx", "-C", "ak.ctx", "-g", "sha256", "-o", "attest.bin", "-s",
                   "sig.bin", "-f", "plain"});
  for (const auto& argv : steps)
    if (auto r = t.step(argv); !r) return tl::unexpected(r.error());
  s.made = true;
  nlohmann::json j = {{"format", "mrv-tpm-key/1"},
                      {"ek_certificate", to_base64(t.read("ek.der"))},
                      {"ak_public", to_base64(t.read("ak.pub"))},
                      {"key_public", to_base64(t.read("key.pub"))},
                      {"certify_info", to_base64(t.read("attest.bin"))},
                      {"certify_signature", to_base64(t.read("sig.bin"))}};
  return j.dump();
}

Result<std::string> TpmStatementSession::activate(const std::string& tpm2_tools_file) {
  Impl& s = *impl_;
  if (!s.made) return fail(ErrorCode::invalid_argument, "tpm", "no statement made in this session");
  if (auto r = s.tools.write("challenge.bin", tpm2_tools_file); !r) return tl::unexpected(r.error());
  // The EK is usable only with the endorsement hierarchy's authorisation, given in a
  // policy session (TPM2_PolicySecret): the three steps must run as one, so one shell.
  auto r = s.tools.run({"sh", "-ec",
                     "tpm2_startauthsession --policy-session -S session.ctx\n"
                     "tpm2_policysecret -S session.ctx -c e >/dev/null\n"
                     "tpm2_activatecredential -c ak.ctx -C ek.ctx -i challenge.bin -o credential.bin "
                     "-P session:session.ctx || { rc=$?; tpm2_flushcontext session.ctx; exit $rc; }\n"
                     "tpm2_flushcontext session.ctx"});
  (void)s.tools.run({"tpm2_flushcontext", "-t"});
  if (!r) return fail(ErrorCode::crypto, "tpm2_activatecredential",
                      "the TPM would not open the registry's challenge: " + r.error().message);
  return s.tools.read("credential.bin");
}

Result<void> load_kept_ak(TpmTools& t, const std::filesystem::path& key_file) {
  const auto path = tpm_ak_path(key_file);
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::not_found, path.string(), "no attestation key kept beside the key");
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  auto member = [&](const char* name) -> std::string {
    return j.is_object() && j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : std::string();
  };
  auto ak_public = from_base64(member("ak_public"));
  auto ak_private = from_base64(member("ak_private"));
  const std::string ek = member("ek");
  if (member("format") != "mrv-tpm-ak/1" || (ek != "rsa" && ek != "ecc") || !ak_public || !ak_private)
    return fail(ErrorCode::corruption, path.string(), "not an mrv-tpm-ak/1 object (ek rsa or ecc, ak_public, ak_private)");
  for (auto [name, bytes] : {std::pair{"ak.pub", *ak_public}, {"ak.priv", *ak_private}, {"ek.alg", ek}})
    if (auto r = t.write(name, bytes); !r) return r;
  if (auto r = t.step({"tpm2_createek", "-c", "ek.ctx", "-G", ek, "-u", "ek.pub"}); !r) return r;
  // The AK loads under the EK only with the endorsement hierarchy's authorisation, given
  // in a policy session: one shell, as for activation.
  if (auto r = t.step({"sh", "-ec",
                       "tpm2_startauthsession --policy-session -S session.ctx\n"
                       "tpm2_policysecret -S session.ctx -c e >/dev/null\n"
                       "tpm2_load -C ek.ctx -P session:session.ctx -u ak.pub -r ak.priv -c ak.ctx "
                       "|| { rc=$?; tpm2_flushcontext session.ctx; exit $rc; }\n"
                       "tpm2_flushcontext session.ctx"});
      !r)
    return fail(ErrorCode::crypto, "tpm2_load", path.string() + ": the kept attestation key does not load in this TPM: " +
                                                    r.error().message);
  return {};
}

Result<void> TpmStatementSession::keep(const std::string& statement) const {
  const Impl& s = *impl_;
  if (!s.made) return fail(ErrorCode::invalid_argument, "tpm", "no statement made in this session");
  nlohmann::json ak = {{"format", "mrv-tpm-ak/1"},
                       {"ek", s.ek_alg},
                       {"ak_public", to_base64(s.tools.read("ak.pub"))},
                       {"ak_private", to_base64(s.tools.read("ak.priv"))}};
  if (auto r = replace_file(tpm_ak_path(s.key_file), ak.dump() + "\n"); !r) return r;
  return replace_file(tpm_statement_path(s.key_file), statement + "\n");
}

}  // namespace mrv::agent
