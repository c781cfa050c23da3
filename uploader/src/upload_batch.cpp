#include "mrv/uploader/upload_batch.hpp"

namespace mrv::uploader {

Result<UploadBatch> next_batch(Journal& journal, size_t max_records, size_t max_bytes) {
  auto stats = journal.stats();
  if (!stats) return tl::unexpected(stats.error());
  UploadBatch batch;
  if (stats->last_seq <= stats->upload_cursor) return batch;
  // The next records after the cursor, whatever seq gap a declared break left.
  bool full = false;
  auto r = journal.for_each_record(stats->upload_cursor + 1, stats->last_seq,
                                   [&](const StoredRecord& rec) {
    full = full || batch.bytes >= max_bytes ||
           (!batch.records.empty() && rec.seq != batch.last_seq + 1);  // contiguous only
    if (full) return;
    if (batch.records.empty()) batch.first_seq = rec.seq;
    batch.last_seq = rec.seq;
    batch.bytes += rec.canonical.size();
    batch.records.push_back(rec);
  }, max_records);
  if (!r) return tl::unexpected(r.error());
  return batch;
}

Result<void> acknowledge(Journal& journal, const UploadBatch& batch) {
  if (batch.records.empty()) return {};
  return journal.set_upload_cursor(batch.last_seq);
}

}  // namespace mrv::uploader
