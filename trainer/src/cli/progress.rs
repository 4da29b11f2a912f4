//! Progress bars on a terminal, nothing when stderr is redirected (CI logs, pipes).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn visible() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("AJUSTE_NO_PROGRESS").is_none()
}

fn bar(len: u64, template: &str, label: &str) -> ProgressBar {
    if !visible() {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}

/// A bar over the bytes of an input file.
pub fn bytes(len: u64, label: &str) -> ProgressBar {
    bar(
        len,
        "{msg:>10} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        label,
    )
}
