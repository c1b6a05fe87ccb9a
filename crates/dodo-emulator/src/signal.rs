//! Waiting for the signal to stop: Ctrl-C, or SIGTERM on Unix (what containers and process
//! managers send).
//!
//! The `emulator` command and the storefront demo await [`shutdown_signal`] and then shut the
//! emulator down gracefully (open requests finish, SSE streams end).

/// Resolves on the first Ctrl-C (SIGINT) or, on Unix, SIGTERM. If a handler cannot be
/// installed, that signal is logged and ignored (the other still works).
///
/// ```no_run
/// # async fn demo(emu: dodo_emulator::Emulator) {
/// dodo_emulator::signal::shutdown_signal().await;
/// emu.shutdown().await;
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
