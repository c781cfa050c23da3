#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "mrv/core/crypto.hpp"
#include "mrv/evidence/evidence_pack.hpp"
#include "mrv/evidence/summary_page.hpp"

using namespace mrv;
using namespace mrv::evidence;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kStart = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr int64_t kDay = 86'400'000;
const char* kHostile = "<script>alert(1)</script>";

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("mrv-evidence-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }
}  // namespace

TEST_CASE("evidence summary page: hostile config texts are escaped, no script", "[evidence]") {
  MonitoringConfig monitoring;
  monitoring.methodology = std::string("MN_AM003") + kHostile;
  monitoring.version = "1.0";
  monitoring.reference_number = "MN001 & <b>";
  monitoring.title = std::string("PV plant ") + kHostile;
  monitoring.emission_reductions = "ER_p";
  MonitoringParameter eg_config;
  eg_config.id = "EG_p";
  eg_config.description = kHostile;
  eg_config.unit = "MWh";
  eg_config.aggregation = Aggregation::counter;
  eg_config.points = {"m1"};
  monitoring.parameters.push_back(eg_config);
  report::Report r;
  r.site_id = std::string("site") + kHostile;
  r.monitoring = &monitoring;
  r.period = {std::string("2026-01") + kHostile, kStart, kStart + 31 * kDay};
  r.annex.end_checkpoint = std::string("mrv-agent/site\n12\nROOT=\n\n\xE2\x80\x94 ") + kHostile + "\n";
  report::ParameterReport eg;
  eg.config = &monitoring.parameters[0];
  eg.correction = -1.5;
  eg.notes.push_back(std::string("corrected ") + kHostile);
  report::PointReport p;
  p.point_id = std::string("m1") + kHostile;
  p.meter_serial = kHostile;
  p.calibration.stated = true;
  p.calibration.coverage = 1;
  p.calibration.calibrations.push_back({7, std::string(64, 'a'), "calibration", "m1", kHostile, kStart, ""});
  eg.points.push_back(p);
  r.parameters.push_back(eg);

  SummaryInputs in;
  in.report = &r;
  in.signed_report_sha256_hex = std::string(64, 'b');
  in.keys.push_back({std::string(64, 'c'), "ed25519", kHostile, "keys/cccccccccccccccc.pem", true});
  in.upload_url = std::string("https://registry.example/") + kHostile;
  PackDocument d;
  d.kind = "document";
  d.seq = 9;
  d.number = kHostile;
  d.file_name = std::string("inv\"oice") + kHostile + ".pdf";
  d.sha256_hex = std::string(64, 'd');
  d.summary = kHostile;
  d.pack_name = safe_file_name(d.file_name);
  in.documents.push_back(d);
  in.files.push_back({"documents/" + d.pack_name, d.sha256_hex, 10});

  std::string page = render_summary_page(in);
  REQUIRE(page.find("<script") == std::string::npos);
  CHECK(page.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(page.find("MN001 &amp; &lt;b&gt;") != std::string::npos);
  CHECK(page.find("<b>") == std::string::npos);
  CHECK(page.find(std::string(64, 'd')) != std::string::npos);    // the document's SHA-256
  CHECK(page.find(std::string(64, 'c')) != std::string::npos);    // the key id
  CHECK(page.find("sha256sum -c SHA256SUMS") != std::string::npos);
  // A link's target is percent-encoded: no quote or angle bracket breaks out of href.
  CHECK(page.find("href=\"documents/inv_oice%3Cscript") == std::string::npos);
  CHECK(page.find("href=\"documents/inv_oice_script_alert%281%29__script_.pdf\"") != std::string::npos);
}

TEST_CASE("evidence pack: safe file names and SHA256SUMS lines", "[evidence]") {
  CHECK(safe_file_name("a/b\\c:d*e?.pdf") == "a_b_c_d_e_.pdf");
  CHECK(safe_file_name("..") == "file");
  CHECK(safe_file_name("") == "file");
  CHECK(safe_file_name("nul.txt") == "_nul.txt");
  CHECK(safe_file_name("x\ny.pdf. ") == "x_y.pdf");
  CHECK(sha256sums_text({{"a.txt", std::string(64, '0'), 1}, {"documents/b c.pdf", std::string(64, '1'), 2}}) ==
        std::string(64, '0') + "  a.txt\n" + std::string(64, '1') + "  documents/b c.pdf\n");
}

TEST_CASE("evidence pack: documents found by name, certificates by hash, refusals name the record", "[evidence]") {
  TempDir t;
  fs::create_directories(t.path / "certs");
  write(t.path / "invoice.pdf", "invoice bytes");
  write(t.path / "certs" / "cal.pdf", "certificate bytes");
  std::string inv_hash = to_hex(sha256("invoice bytes")), cert_hash = to_hex(sha256("certificate bytes"));

  auto make = [&] {
    std::vector<PackDocument> docs(2);
    docs[0].kind = "calibration", docs[0].seq = 3, docs[0].number = "CAL-1", docs[0].sha256_hex = cert_hash;
    docs[1].kind = "document", docs[1].seq = 4, docs[1].number = "INV-1", docs[1].file_name = "invoice.pdf";
    docs[1].sha256_hex = inv_hash;
    return docs;
  };
  auto docs = make();
  REQUIRE(locate_documents(docs, t.path));
  CHECK(docs[0].source == t.path / "certs" / "cal.pdf");
  CHECK(docs[0].pack_name == "cal.pdf");
  CHECK(docs[1].pack_name == "invoice.pdf");

  docs = make();
  auto none = locate_documents(docs, "");
  REQUIRE(!none);
  CHECK(none.error().to_string().find("set [monitoring] documents_dir") != std::string::npos);

  write(t.path / "invoice.pdf", "invoice bytes!");
  docs = make();
  auto changed = locate_documents(docs, t.path);
  REQUIRE(!changed);
  std::string text = changed.error().to_string();
  CHECK(text.find("document seq 4") != std::string::npos);
  CHECK(text.find("invoice.pdf has changed: expected SHA-256 " + inv_hash + ", actual " +
                  to_hex(sha256("invoice bytes!"))) != std::string::npos);

  write(t.path / "invoice.pdf", "invoice bytes");
  fs::remove(t.path / "certs" / "cal.pdf");
  docs = make();
  auto missing = locate_documents(docs, t.path);
  REQUIRE(!missing);
  text = missing.error().to_string();
  CHECK(text.find("calibration seq 3") != std::string::npos);
  CHECK(text.find("CAL-1") != std::string::npos);
  CHECK(text.find(cert_hash) != std::string::npos);
  CHECK(text.find(t.path.string()) != std::string::npos);
}
