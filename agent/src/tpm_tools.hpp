#pragma once
// tpm2-tools as subprocesses, in a private temporary folder, reaching the TPM at `tcti`
// (empty: the tools' default). Used where the agent talks to the TPM beyond signing:
// the key statement (keygen, tpm-activate) and the start counter (run).
#include <filesystem>
#include <string>
#include <vector>

#include "mrv/core/error.hpp"

namespace mrv::agent {

class TpmTools {
 public:
  explicit TpmTools(std::string tcti);
  ~TpmTools();
  TpmTools(const TpmTools&) = delete;
  TpmTools& operator=(const TpmTools&) = delete;

  // Runs one tool (argv[0] found on PATH) in the folder; its output goes to a file that
  // becomes the error's message when it fails.
  [[nodiscard]] Result<void> run(const std::vector<std::string>& argv);
  // run(), then flushes transient objects and sessions: without a resource manager
  // (swtpm, /dev/tpm0) the tools leave their objects loaded and a TPM holds only three.
  [[nodiscard]] Result<void> step(const std::vector<std::string>& argv);
  // A file of the folder.
  std::string read(const std::string& name) const;
  [[nodiscard]] Result<void> write(const std::string& name, const std::string& bytes) const;
  const std::filesystem::path& dir() const { return dir_; }
  bool ok() const { return !dir_.empty(); }

 private:
  std::string tcti_;
  std::filesystem::path dir_;
};

// Writes `text` to `path` through a temporary file and a rename: a reader sees the old
// file or the new, never a part.
[[nodiscard]] Result<void> replace_file(const std::filesystem::path& path, const std::string& text);

}  // namespace mrv::agent
