//! A small HTTP/1 server loop around an axum router that lets a handler drop its TCP connection
//! without answering, which `axum::serve` cannot do. Used to simulate connection resets.

use std::sync::Arc;

use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// Request extension: lets a handler close the connection it arrived on.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionKiller(Arc<Notify>);

impl ConnectionKiller {
    /// Closes the connection; the client sees it drop without a response.
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

/// Serves `app` on `listener` until `stop` turns true; then closes every connection.
pub(crate) async fn serve(listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, app.clone()));
                }
                Err(error) => tracing::warn!(%error, "llm simulator accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, app: Router) {
    let killer = ConnectionKiller::default();
    let service = TowerToHyperService::new(app.layer(Extension(killer.clone())));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%error, "llm simulator connection ended with an error");
            }
        }
        () = killer.0.notified() => tracing::debug!("llm simulator dropped a connection"),
    }
}
