//! The per-session listener: a Unix socket (0600) serving HTTP/1.1, one task
//! per connection, all of them ended by [`SessionProxy::shutdown`].

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::usage::SessionIdentity;
use super::{forward, ProxyError, Shared};

/// Most connections one session may hold open at once; more wait.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A running proxy for one session; dropping it stops it too.
#[derive(Debug)]
pub struct SessionProxy {
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SessionProxy {
    /// The socket it serves.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, ends open connections and removes the socket.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        remove_socket(&self.path);
    }
}

impl Drop for SessionProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            remove_socket(&self.path);
        }
    }
}

fn remove_socket(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Binds `path` and spawns the accept loop.
pub(super) fn start(
    shared: Arc<Shared>,
    path: &Path,
    session: SessionIdentity,
) -> Result<SessionProxy, ProxyError> {
    let socket_error = |source: std::io::Error| ProxyError::Socket {
        path: path.display().to_string(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(socket_error)?
        }
        Ok(_) => {
            return Err(socket_error(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            )))
        }
        Err(_) => {}
    }
    // The session directory is 0700, so nobody can connect before the chmod.
    let listener = UnixListener::bind(path).map_err(socket_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(socket_error)?;
    let (stop, stopped) = oneshot::channel();
    let session = Arc::new(session);
    let task = tokio::spawn(accept_loop(listener, shared, session, stopped));
    Ok(SessionProxy {
        path: path.to_path_buf(),
        stop: Some(stop),
        task: Some(task),
    })
}

async fn accept_loop(
    listener: UnixListener,
    shared: Arc<Shared>,
    session: Arc<SessionIdentity>,
    mut stopped: oneshot::Receiver<()>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Dropping the set at the end aborts every open connection.
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = &mut stopped => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, session = %session.session_id, "model proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        let session = Arc::clone(&session);
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                let session = Arc::clone(&session);
                async move {
                    Ok::<_, std::convert::Infallible>(
                        forward::handle(shared, session, request).await,
                    )
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "model proxy connection ended");
            }
            drop(permit);
        });
    }
}
