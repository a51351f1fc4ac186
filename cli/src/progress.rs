//! Progress bars for long runs (indicatif), drawn on stderr only when stdout is a terminal:
//! piped or scripted runs print nothing extra.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` steps of `what` (e.g. "days"), hidden when stdout is not a terminal.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!(
        "{{spinner}} {{bar:40}} {{pos}}/{{len}} {what} ({{elapsed}}, about {{eta}} left) {{msg}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}
