#pragma once
// Store-and-forward on the journal: the next batch to upload is the contiguous run of
// records after the upload cursor; the cursor moves only when the registry has
// receipted a batch, so a restart resends exactly what was not receipted. Only
// receipted records may be pruned when the journal reaches its quota.
#include <cstdint>
#include <vector>

#include "mrv/core/journal.hpp"

namespace mrv::uploader {

struct UploadBatch {
  uint64_t first_seq = 0, last_seq = 0;
  std::vector<StoredRecord> records;
  size_t bytes = 0;
};

// Up to max_records records (and about max_bytes of canonical bytes) after the cursor.
[[nodiscard]] Result<UploadBatch> next_batch(Journal& journal, size_t max_records,
                                             size_t max_bytes);
// Records the registry's receipt for `batch`.
[[nodiscard]] Result<void> acknowledge(Journal& journal, const UploadBatch& batch);

}  // namespace mrv::uploader
