//! Standard output for the commands: one line at a time, flushed, and a closed pipe (as in
//! `dodo-dev trigger --list | head -5`) ends the process quietly with success, as `cat` or
//! ripgrep do, instead of the panic `println!` gives.

use std::io::Write;

/// Prints one line (like `println!`) through [`line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

/// Writes `args` and a newline to stdout and flushes; exits 0 if the reader has gone away.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Writes `bytes` to stdout as they are (no newline added), with the same closed-pipe rule.
pub fn raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}
