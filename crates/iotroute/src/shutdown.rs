//! When a program stops: SIGTERM or Ctrl-C (SIGINT). The handlers are installed when
//! [`signal`] is called, not when its future is first polled: a server that calls it
//! before it starts serving cannot be killed by a SIGTERM's default action in the
//! moment its loop was busy with other work (it would stop without its last save and
//! log line).

use std::future::Future;

/// A future that completes at the first SIGTERM or Ctrl-C after this call.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                    one.recv().await;
                }
                (Err(e), Err(_)) => {
                    tracing::error!(error = %e, "no signal handler: stopping only when killed");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    /// A SIGTERM sent after the call and before the future is first polled is caught:
    /// with handlers installed only at the first poll, it would kill this process.
    #[tokio::test]
    async fn a_sigterm_before_the_first_poll_is_caught_not_fatal() {
        let stop = super::signal();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(std::time::Duration::from_secs(5), stop)
            .await
            .expect("the signal caught");
    }
}
