#pragma once
// GET /: the status page for a technician on site. One self-contained HTML document (no
// script, no external resource; it reloads itself every 5 s with <meta refresh>): health,
// warnings, sources, journal and upload, each meter's calibration, and one table row per
// point with its last value, unit, age, gaps today and an inline-SVG sparkline. Every text is escaped: point ids, topics
// and errors come from configs and peers. Pure: the time is status.now_ms.
#include <span>
#include <string>
#include <string_view>

#include "agent_status.hpp"
#include "health.hpp"
#include "mrv/report/format.hpp"

namespace mrv::agent {

// & < > " ' as character references: safe in text and in quoted attributes (shared with
// the report's HTML page).
using report::html_escape;
// A 120x24 inline <svg> of the samples (oldest first; NaN breaks the line); "" for none.
std::string sparkline_svg(std::span<const PointHistory::Sample> samples);
std::string render_status_page(const AgentStatus& status, const Health& health);

}  // namespace mrv::agent
