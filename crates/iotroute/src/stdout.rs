//! What the commands print on standard output, one way: a line or text written, and
//! when standard output is gone — a reader that stopped early, `iotroute headend events
//! | head` — the program ends quietly (status 0, a debug log line) instead of the panic
//! `println!` raises. Rust ignores SIGPIPE (so a socket's peer that leaves is an error
//! to handle, not a signal that kills a server): this is where the commands handle it.

use std::io::Write as _;

/// Write `text` as it is.
pub fn text(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if out.write_fmt(text).and_then(|()| out.flush()).is_err() {
        tracing::debug!("standard output closed: done");
        std::process::exit(0);
    }
}

/// `println!` that ends the program quietly when standard output is gone.
macro_rules! outln {
    () => {
        $crate::stdout::text(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::text(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that ends the program quietly when standard output is gone.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::text(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};
