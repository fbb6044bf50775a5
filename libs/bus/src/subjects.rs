//! Subject and stream names, in one place.

#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// `prefix` is lowercase letters, digits and `_` (checked by configuration).
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_string() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn stream(&self, kind: &str) -> String {
        format!("{}_{kind}", self.prefix.to_uppercase())
    }

    pub fn events_stream(&self) -> String {
        self.stream("EVENTS")
    }
    pub fn commands_stream(&self) -> String {
        self.stream("COMMANDS")
    }
    pub fn logs_stream(&self) -> String {
        self.stream("LOGS")
    }

    /// `PREFIX.events.TENANT.TYPE.ID` for an event of stream `TENANT.TYPE.ID`.
    pub fn event(&self, stream_subject: &str) -> String {
        format!("{}.events.{stream_subject}", self.prefix)
    }
    pub fn events_all(&self) -> String {
        format!("{}.events.>", self.prefix)
    }
    /// Events of one aggregate type in every tenant, e.g. `PREFIX.events.*.server.>`.
    pub fn events_of_type(&self, aggregate_type: &str) -> String {
        format!("{}.events.*.{aggregate_type}.>", self.prefix)
    }

    pub fn command(&self, kind: &str) -> String {
        format!("{}.commands.{kind}", self.prefix)
    }
    pub fn commands_all(&self) -> String {
        format!("{}.commands.>", self.prefix)
    }

    pub fn log(&self, kind: &str, tenant: &str) -> String {
        format!("{}.logs.{kind}.{tenant}", self.prefix)
    }
    pub fn logs_all(&self) -> String {
        format!("{}.logs.>", self.prefix)
    }

    /// Request/reply subject for calls to a server's upstream, served by session-workers.
    pub fn call(&self, tenant: &str, server: &str) -> String {
        format!("{}.calls.{tenant}.{server}", self.prefix)
    }
    pub fn calls_all(&self) -> String {
        format!("{}.calls.>", self.prefix)
    }

    /// Calls for one session-worker instance (`worker`: its id, with what a subject token cannot
    /// hold replaced by `_`): those that need what it holds.
    pub fn worker_calls(&self, worker: &str) -> String {
        let token: String =
            worker.chars().map(|c| if c.is_ascii_alphanumeric() || "-_:".contains(c) { c } else { '_' }).collect();
        format!("{}.worker.{token}.calls", self.prefix)
    }

    /// What the upstream says to the caller of one call while it runs (progress, log
    /// messages, sampling/elicitation/roots requests), worker to edge.
    pub fn call_client(&self, call_id: &str) -> String {
        format!("{}.client.{call_id}", self.prefix)
    }

    /// An upstream's resource update, worker to every edge.
    pub fn resource_updated(&self, tenant: &str, server: &str) -> String {
        format!("{}.updated.{tenant}.{server}", self.prefix)
    }
    pub fn resource_updated_all(&self) -> String {
        format!("{}.updated.>", self.prefix)
    }

    /// An upstream said its lists changed and a refresh found nothing new to record: worker
    /// to every edge, which passes the upstream's word on to clients.
    pub fn list_changed(&self, tenant: &str, server: &str) -> String {
        format!("{}.listchanged.{tenant}.{server}", self.prefix)
    }
    pub fn list_changed_all(&self) -> String {
        format!("{}.listchanged.*.*", self.prefix)
    }

    pub fn call_clients_all(&self) -> String {
        format!("{}.client.*", self.prefix)
    }

    /// Cancellation of one call, caller to whichever worker runs it.
    pub fn cancel(&self, call_id: &str) -> String {
        format!("{}.cancel.{call_id}", self.prefix)
    }
    pub fn cancel_all(&self) -> String {
        format!("{}.cancel.*", self.prefix)
    }

    /// New log lines of one job (core NATS, not in a stream: the `job_logs` table keeps them),
    /// job-poller to whoever follows the job's logs.
    pub fn job_logs(&self, tenant: &str, job: &str) -> String {
        format!("{}.joblogs.{tenant}.{job}", self.prefix)
    }

    /// A job's cancellation was asked for: api to the job-poller running it.
    pub fn job_cancel(&self, tenant: &str, job: &str) -> String {
        format!("{}.jobs.cancel.{tenant}.{job}", self.prefix)
    }
    pub fn job_cancel_all(&self) -> String {
        format!("{}.jobs.cancel.*.*", self.prefix)
    }

    /// A job was queued: wakes the job-pollers (which also look on a timer).
    pub fn jobs_queued(&self) -> String {
        format!("{}.jobs.queued", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::Subjects;

    #[test]
    fn names() {
        let s = Subjects::new("canopy");
        assert_eq!(s.events_stream(), "CANOPY_EVENTS");
        assert_eq!(s.event("default.server.calc"), "canopy.events.default.server.calc");
        assert_eq!(s.events_of_type("server"), "canopy.events.*.server.>");
        assert_eq!(s.call("default", "calc"), "canopy.calls.default.calc");
        assert_eq!(s.job_logs("acme", "job_1"), "canopy.joblogs.acme.job_1");
        assert_eq!(s.job_cancel("acme", "job_1"), "canopy.jobs.cancel.acme.job_1");
        assert_eq!(s.jobs_queued(), "canopy.jobs.queued");
    }
}
