//! The timeline of `weir runs show`: each step's start to end drawn as a bar on the run's own
//! time axis, so a glance shows what ran in parallel, what waited, and what took the time.

use crate::settings::{Style, paint};
use weir_pipeline::Status;

/// The width of a bar when stdout is not a terminal.
pub const PIPED_WIDTH: usize = 40;

/// The narrowest and widest bar drawn on a terminal.
const MIN_WIDTH: usize = 10;
const MAX_WIDTH: usize = 100;

/// The time axis of one run: milliseconds since the epoch, from its start to its end (or to the
/// last thing it recorded, when it has not ended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub start: u64,
    pub end: u64,
}

impl Axis {
    /// The width of a bar: what a terminal of `columns` leaves beside `used` columns of table
    /// (within [`MIN_WIDTH`] and [`MAX_WIDTH`]), or [`PIPED_WIDTH`] when not on a terminal.
    pub fn width(columns: Option<usize>, used: usize) -> usize {
        columns.map_or(PIPED_WIDTH, |c| c.saturating_sub(used).clamp(MIN_WIDTH, MAX_WIDTH))
    }

    /// The column of `at` in a bar of `width`.
    fn column(&self, at: u64, width: usize) -> usize {
        let span = self.end.saturating_sub(self.start).max(1);
        let offset = at.clamp(self.start, self.end) - self.start;
        ((offset as u128 * width as u128 / span as u128) as usize).min(width - 1)
    }

    /// The bar of a step that ran from `started` to `finished` (not yet, while it runs), `width`
    /// columns between `|` marks. A step that never started (skipped, reused, pending) has an
    /// empty bar; a step shorter than a column still gets one. Without colour the bar is plain
    /// ASCII: `#` while it ran, `>` at the end of one still running.
    pub fn bar(
        &self,
        started: Option<u64>,
        finished: Option<u64>,
        status: Status,
        width: usize,
        color: bool,
    ) -> String {
        let width = width.max(1);
        let Some(started) = started else { return format!("|{}|", " ".repeat(width)) };
        let from = self.column(started, width);
        let to = self.column(finished.unwrap_or(self.end), width).max(from);
        let fill = if color { "█" } else { "#" };
        let mut body = fill.repeat(to - from + 1);
        if finished.is_none() {
            body.pop();
            body.push('>');
        }
        let style = match status {
            Status::Succeeded => Style::Ok,
            Status::Failed | Status::Cancelled => Style::Error,
            Status::Waiting => Style::Warn,
            _ => Style::Dim,
        };
        format!("|{}{}{}|", " ".repeat(from), paint(&body, style, color), " ".repeat(width - to - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AXIS: Axis = Axis { start: 1_000, end: 2_000 };

    #[test]
    fn a_bar_covers_its_step_on_the_runs_axis() {
        let bar = |s, f, st| AXIS.bar(s, f, st, 10, false);
        assert_eq!(bar(Some(1_000), Some(2_000), Status::Succeeded), "|##########|");
        assert_eq!(bar(Some(1_000), Some(1_500), Status::Succeeded), "|######    |");
        assert_eq!(bar(Some(1_500), Some(1_700), Status::Failed), "|     ###  |");
        // Shorter than a column: still seen.
        assert_eq!(bar(Some(1_310), Some(1_311), Status::Succeeded), "|   #      |");
        // Still running: to the end of the axis, with an arrow.
        assert_eq!(bar(Some(1_800), None, Status::Running), "|        #>|");
        assert_eq!(bar(Some(1_950), None, Status::Running), "|         >|");
        // Never started: nothing drawn, the same width.
        assert_eq!(bar(None, None, Status::Skipped), "|          |");
    }

    #[test]
    fn times_outside_the_axis_and_an_empty_axis_stay_inside_the_bar() {
        let bar = AXIS.bar(Some(0), Some(9_000), Status::Succeeded, 4, false);
        assert_eq!(bar, "|####|");
        let instant = Axis { start: 5, end: 5 };
        assert_eq!(instant.bar(Some(5), Some(5), Status::Succeeded, 4, false), "|#   |");
    }

    #[test]
    fn colour_paints_the_bar_by_status_and_plain_text_is_ascii() {
        let painted = AXIS.bar(Some(1_000), Some(1_500), Status::Failed, 10, true);
        assert!(painted.contains("\x1b[1;31m██████\x1b[0m"), "{painted}");
        let plain = AXIS.bar(Some(1_000), Some(1_500), Status::Failed, 10, false);
        assert!(plain.is_ascii(), "{plain}");
    }

    #[test]
    fn bars_fit_the_terminal_or_take_forty_columns_piped() {
        assert_eq!(Axis::width(None, 70), PIPED_WIDTH);
        assert_eq!(Axis::width(Some(120), 70), 50);
        assert_eq!(Axis::width(Some(60), 70), MIN_WIDTH);
        assert_eq!(Axis::width(Some(500), 70), MAX_WIDTH);
    }
}
