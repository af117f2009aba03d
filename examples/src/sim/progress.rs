//! The progress bar: deals finished and events per second, redrawn a few times a second on a
//! terminal and not drawn at all otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::run::SimGroup;

/// How often the bar is refreshed.
const TICK: Duration = Duration::from_millis(200);

/// A running progress bar (hidden when stdout is not a terminal or it was not asked for).
pub struct Progress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl Progress {
    /// Starts a bar over `deals` deals, reading `finished` and the group's counters.
    pub fn start(wanted: bool, deals: u64, finished: Arc<AtomicU64>, group: SimGroup) -> Progress {
        let target = if wanted && std::io::stdout().is_terminal() {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(deals), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} deals finished, {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let ticker = tokio::spawn({
            let bar = bar.clone();
            async move {
                let mut last = (Instant::now(), group.counters().events_applied);
                loop {
                    tokio::time::sleep(TICK).await;
                    let now = (Instant::now(), group.counters().events_applied);
                    let seconds = now.0.duration_since(last.0).as_secs_f64().max(1e-9);
                    let rate = now.1.saturating_sub(last.1) as f64 / seconds;
                    bar.set_position(finished.load(Ordering::Relaxed));
                    bar.set_message(format!("{rate:.0} events/s"));
                    last = now;
                }
            }
        });
        Progress { bar, ticker }
    }

    /// Stops the bar at `finished` deals and clears it.
    pub fn finish(self, finished: u64) {
        self.ticker.abort();
        self.bar.set_position(finished);
        self.bar.finish_and_clear();
    }
}
