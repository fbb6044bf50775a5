//! The MCP endpoints' session manager: rmcp's in-process sessions (any edge restores one from
//! Redis on its first request there), except that a session's standalone GET stream is not
//! the in-process channel of whichever edge it reached but the session's stream in Redis,
//! followed live. Notifications for a session are appended there once, by any edge, and reach
//! the client wherever its GET stream is, also after the edge that wrote them has stopped.

use crate::redis_store::{parse_event_id, standalone_stream, RedisStores};
use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use std::sync::Arc;

pub(crate) struct SharedSessions {
    local: LocalSessionManager,
    stores: RedisStores,
}

impl SharedSessions {
    pub(crate) fn new(stores: RedisStores) -> Self {
        Self { local: LocalSessionManager::default().with_event_store(Arc::new(stores.clone())), stores }
    }
}

impl SessionManager for SharedSessions {
    type Error = <LocalSessionManager as SessionManager>::Error;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.local.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.local.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.local.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.local.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.create_stream(id, message).await
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        self.local.accept_message(id, message).await
    }

    /// rmcp has checked (or restored) the session before asking.
    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.stores.follow(standalone_stream(id), None))
    }

    /// A standalone stream resumes from Redis and stays open; a request's stream is replayed
    /// as rmcp does.
    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let standalone = standalone_stream(id);
        match parse_event_id(&last_event_id) {
            Some((stream, seen)) if stream == standalone => {
                Ok(self.stores.follow(standalone, Some(seen)).left_stream())
            }
            _ => Ok(self.local.resume(id, last_event_id).await?.right_stream()),
        }
    }

    async fn restore_session(&self, id: SessionId) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.local.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}
