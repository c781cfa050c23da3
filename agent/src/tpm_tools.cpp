#include "tpm_tools.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace mrv::agent {

// Subprocesses, not ESAPI linked in: these are the TCG-documented commands an operator
// can replay by hand (docs/operations.md, docs/verification.md §8); they run at keygen,
// activation and once per start, and linking libtss2-esys for them would add a C API of
// sessions and handles to the agent for no gain in what is proven.
TpmTools::TpmTools(std::string tcti) : tcti_(std::move(tcti)) {
  std::string t = (std::filesystem::temp_directory_path() / "mrv-tpm-XXXXXX").string();
  if (::mkdtemp(t.data())) dir_ = t;
}

TpmTools::~TpmTools() {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Result<void> TpmTools::run(const std::vector<std::string>& argv) {
  if (dir_.empty()) return fail(ErrorCode::io, "", "cannot make a temporary folder");
  const std::filesystem::path err = dir_ / "stderr.txt";
  pid_t pid = ::fork();
  if (pid < 0) return fail(ErrorCode::io, argv[0], "cannot fork");
  if (pid == 0) {
    if (!tcti_.empty()) ::setenv("TPM2TOOLS_TCTI", tcti_.c_str(), 1);
    int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (::chdir(dir_.c_str()) != 0) ::_exit(126);
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
  std::string out = read("stderr.txt");
  if (out.size() > 600) out = out.substr(0, 600) + "...";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) out = "not found (Debian package tpm2-tools)";
  return fail(ErrorCode::crypto, argv[0], out);
}

Result<void> TpmTools::step(const std::vector<std::string>& argv) {
  auto r = run(argv);
  (void)run({"tpm2_flushcontext", "-t"});
  (void)run({"tpm2_flushcontext", "-s"});
  return r;
}

std::string TpmTools::read(const std::string& name) const {
  std::ifstream in(dir_ / name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> TpmTools::write(const std::string& name, const std::string& bytes) const {
  std::ofstream out(dir_ / name, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out.flush()) return fail(ErrorCode::io, (dir_ / name).string(), "cannot write");
  return {};
}

Result<void> replace_file(const std::filesystem::path& path, const std::string& text) {
  const std::string tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return fail(ErrorCode::io, tmp, "cannot write");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return fail(ErrorCode::io, path.string(), "cannot replace");
  return {};
}

}  // namespace mrv::agent
