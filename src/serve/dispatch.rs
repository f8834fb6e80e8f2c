//! The dispatcher: takes each message from a session socket to a pipeline task
//! and its answer back to the socket it came on, and audits what peers do to
//! the sockets' connections. The one place where the transport
//! (`carapace-zmtp`) meets the pipeline; it must never interpret a message
//! itself (the pipeline does) nor answer on another session's socket.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use carapace_zmtp::server::socket::{ConnectionEvent, Outbound, SocketEvent};
use serde_json::json;
use tokio::sync::mpsc;

use crate::core::Core;
use crate::pipeline;

/// Routes each inbound message to a pipeline task and its answer back to the socket.
pub async fn dispatch(
    core: Arc<Core>,
    mut inbound: mpsc::Receiver<SocketEvent>,
    in_flight: Arc<AtomicUsize>,
) {
    while let Some(event) = inbound.recv().await {
        let message = match event {
            SocketEvent::Message(message) => message,
            SocketEvent::Connection(connection) => {
                audit_connection(&core, connection);
                continue;
            }
        };
        let Some(session) = core.sessions.get(&message.session_id) else {
            continue;
        };
        let core = Arc::clone(&core);
        let in_flight = Arc::clone(&in_flight);
        in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            // Keeps the session's agent from being killed as idle meanwhile.
            let _call = session.call_started();
            let body = match &message.body {
                Some(body) => pipeline::handle(&core, &session, body).await,
                None => pipeline::handle_unframed(&core, &session),
            };
            core.sockets.send(Outbound {
                session_id: message.session_id,
                peer: message.peer,
                delimited: message.delimited,
                body,
            });
            in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// The audit kind of a connection event (a closed set, so it can key a refusal tally).
fn connection_kind(kind: &str) -> &'static str {
    match kind {
        "accepted" => "connection.accepted",
        "closed" => "connection.closed",
        "handshake_failed" => "connection.handshake_failed",
        "protocol_error" => "connection.protocol_error",
        "refused" => "connection.refused",
        _ => "connection.other",
    }
}

/// Connections are audited; a drop (an oversize frame, a bad greeting) says why.
/// A peer can open and drop connections at will, so per session only the first
/// of each kind in an interval is recorded in full; the rest are counted.
fn audit_connection(core: &Core, connection: ConnectionEvent) {
    if let Some(session) = core.sessions.get(&connection.session_id) {
        let kind = connection_kind(connection.kind);
        if !core.admit_refusal(&session, (kind, ""), 1 + connection.suppressed) {
            return;
        }
        let mut fields = match connection.reason {
            Some(reason) => json!({ "reason": reason }),
            None => json!({}),
        };
        if connection.suppressed > 0 {
            // Connection audits are rate limited per session; say how many were not written.
            fields["suppressed_before"] = json!(connection.suppressed);
        }
        core.audit(&session, kind, fields);
    }
}
