#include "tpm_statement_maker.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "mrv/core/crypto.hpp"

namespace mrv::agent {
namespace {

// tpm2-tools as subprocesses, not ESAPI linked in: the certification runs once, at keygen,
// and these seven commands are the TCG-documented path an operator can replay by hand
// (docs/operations.md); linking libtss2-esys for it would add a C API of sessions and
// handles to the agent for no gain in what is proven.
Result<void> run_tool(const std::vector<std::string>& argv, const std::string& tcti, const std::filesystem::path& dir) {
  const std::filesystem::path err = dir / "stderr.txt";
  pid_t pid = ::fork();
  if (pid < 0) return fail(ErrorCode::io, argv[0], "cannot fork");
  if (pid == 0) {
    if (!tcti.empty()) ::setenv("TPM2TOOLS_TCTI", tcti.c_str(), 1);
    int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  std::ifstream in(err);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string out = ss.str();
  if (out.size() > 600) out = out.substr(0, 600) + "...";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    out = "not found (Debian package tpm2-tools)";
  return fail(ErrorCode::crypto, argv[0], out);
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "mrv-tpm-XXXXXX").string();
    if (::mkdtemp(t.data())) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

struct TpmStatementSession::Impl {
  std::filesystem::path key_file;
  std::string tcti;
  TempDir tmp;
  bool made = false;

  // Without a resource manager (swtpm, /dev/tpm0) the tools leave their objects loaded
  // and a TPM holds only three: flush the transient ones and sessions after each step.
  Result<void> step(const std::vector<std::string>& argv) {
    auto r = run_tool(argv, tcti, tmp.path);
    (void)run_tool({"tpm2_flushcontext", "-t"}, tcti, tmp.path);
    (void)run_tool({"tpm2_flushcontext", "-s"}, tcti, tmp.path);
    return r;
  }
};

TpmStatementSession::TpmStatementSession(std::filesystem::path key_file, std::string tcti)
    : impl_(std::make_unique<Impl>()) {
  impl_->key_file = std::filesystem::absolute(key_file);
  impl_->tcti = std::move(tcti);
}

TpmStatementSession::~TpmStatementSession() = default;

Result<std::string> TpmStatementSession::make_statement() {
  Impl& s = *impl_;
  if (s.tmp.path.empty()) return fail(ErrorCode::io, "", "cannot make a temporary folder");
  // The EK certificate, from the TCG's NV index for the RSA 2048 EK (else the ECC P-256 one).
  std::string ek_alg = "rsa";
  if (!s.step({"tpm2_nvread", "0x01c00002", "-o", "ek.der"})) {
    ek_alg = "ecc";
    if (auto r = s.step({"tpm2_nvread", "0x01c0000a", "-o", "ek.der"}); !r)
      return fail(ErrorCode::not_found, "tpm", "the TPM holds no EK certificate (NV 0x01c00002 or 0x01c0000a): " +
                                                    r.error().message);
  }
  for (auto argv : std::vector<std::vector<std::string>>{
           {"tpm2_createek", "-c", "ek.ctx", "-G", ek_alg, "-u", "ek.pub"},
           {"tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256", "-s", "ecdsa", "-u",
            "ak.pub", "-f", "tss", "-n", "ak.name"},
           {"tpm2_load", "-r", s.key_file.string(), "-c", "key.ctx"},
           {"tpm2_readpublic", "-c", "key.ctx", "-o", "key.pub", "-f", "tss"},
           {"tpm2_certify", "-c", "key.ctx", "-C", "ak.ctx", "-g", "sha256", "-o", "attest.bin", "-s", "sig.bin",
            "-f", "plain"}})
    if (auto r = s.step(argv); !r) return tl::unexpected(r.error());
  s.made = true;
  nlohmann::json j = {{"format", "mrv-tpm-key/1"},
                      {"ek_certificate", to_base64(read_all(s.tmp.path / "ek.der"))},
                      {"ak_public", to_base64(read_all(s.tmp.path / "ak.pub"))},
                      {"key_public", to_base64(read_all(s.tmp.path / "key.pub"))},
                      {"certify_info", to_base64(read_all(s.tmp.path / "attest.bin"))},
                      {"certify_signature", to_base64(read_all(s.tmp.path / "sig.bin"))}};
  return j.dump();
}

Result<std::string> TpmStatementSession::activate(const std::string& tpm2_tools_file) {
  Impl& s = *impl_;
  if (!s.made) return fail(ErrorCode::invalid_argument, "tpm", "no statement made in this session");
  {
    std::ofstream out(s.tmp.path / "challenge.bin", std::ios::binary | std::ios::trunc);
    out << tpm2_tools_file;
    if (!out.flush()) return fail(ErrorCode::io, (s.tmp.path / "challenge.bin").string(), "cannot write");
  }
  // The EK is usable only with the endorsement hierarchy's authorisation, given in a
  // policy session (TPM2_PolicySecret): the three steps must run as one, so one shell.
  auto r = run_tool({"sh", "-ec",
                     "tpm2_startauthsession --policy-session -S session.ctx\n"
                     "tpm2_policysecret -S session.ctx -c e >/dev/null\n"
                     "tpm2_activatecredential -c ak.ctx -C ek.ctx -i challenge.bin -o credential.bin "
                     "-P session:session.ctx || { rc=$?; tpm2_flushcontext session.ctx; exit $rc; }\n"
                     "tpm2_flushcontext session.ctx"},
                    s.tcti, s.tmp.path);
  (void)run_tool({"tpm2_flushcontext", "-t"}, s.tcti, s.tmp.path);
  if (!r) return fail(ErrorCode::crypto, "tpm2_activatecredential",
                      "the TPM would not open the registry's challenge: " + r.error().message);
  return read_all(s.tmp.path / "credential.bin");
}

Result<std::string> make_tpm_statement(const std::filesystem::path& key_file, const std::string& tcti) {
  TpmStatementSession session(key_file, tcti);
  return session.make_statement();
}

}  // namespace mrv::agent
