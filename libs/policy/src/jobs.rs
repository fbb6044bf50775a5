//! The jobs service (the built-in `grid` server's tools and their REST routes) as a policy
//! target. Every operation on jobs, inputs, logs and artifacts is one of Jungle Grid's 11 tools;
//! REST routes and MCP tools name the same [`GridTool`], so both are decided alike: a tenant's
//! jobs are its own (another tenant's are `NotFound`), a client reaches them only if its allow
//! list admits the `grid` server or the tool (`grid__submit_job`), and an OAuth token needs
//! Jungle Grid's scope for the tool.

use serde::Serialize;

/// The name of the built-in server that offers the jobs tools.
pub const GRID_SERVER: &str = "grid";

/// One of the `grid` server's tools (and the REST routes that do the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GridTool {
    EstimateJob,
    SubmitJob,
    /// Also completing the upload (`POST /job-inputs/{id}/complete`).
    UploadJobInput,
    ListJobInputs,
    ListJobs,
    GetJob,
    GetJobEvents,
    GetJobLogs,
    CancelJob,
    ListArtifacts,
    GetArtifact,
}

impl GridTool {
    pub const ALL: [GridTool; 11] = [
        GridTool::EstimateJob,
        GridTool::SubmitJob,
        GridTool::UploadJobInput,
        GridTool::ListJobInputs,
        GridTool::ListJobs,
        GridTool::GetJob,
        GridTool::GetJobEvents,
        GridTool::GetJobLogs,
        GridTool::CancelJob,
        GridTool::ListArtifacts,
        GridTool::GetArtifact,
    ];

    /// The tool's name, exactly as Jungle Grid's MCP server spells it.
    pub fn name(self) -> &'static str {
        match self {
            GridTool::EstimateJob => "estimate_job",
            GridTool::SubmitJob => "submit_job",
            GridTool::UploadJobInput => "upload_job_input",
            GridTool::ListJobInputs => "list_job_inputs",
            GridTool::ListJobs => "list_jobs",
            GridTool::GetJob => "get_job",
            GridTool::GetJobEvents => "get_job_events",
            GridTool::GetJobLogs => "get_job_logs",
            GridTool::CancelJob => "cancel_job",
            GridTool::ListArtifacts => "list_artifacts",
            GridTool::GetArtifact => "get_artifact",
        }
    }

    pub fn parse(name: &str) -> Option<GridTool> {
        GridTool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Jungle Grid's scope for the tool (enterprise mode): `jobs:estimate`, `jobs:submit`,
    /// `jobs:read` or `logs:read`.
    pub fn scope(self) -> &'static str {
        match self {
            GridTool::EstimateJob => JOBS_ESTIMATE,
            GridTool::SubmitJob | GridTool::UploadJobInput | GridTool::CancelJob => JOBS_SUBMIT,
            GridTool::GetJobLogs => LOGS_READ,
            GridTool::ListJobInputs
            | GridTool::ListJobs
            | GridTool::GetJob
            | GridTool::GetJobEvents
            | GridTool::ListArtifacts
            | GridTool::GetArtifact => JOBS_READ,
        }
    }

    /// `Discover` for the tools that only read, `Use` for those that start, change or cost
    /// something (estimate included: it is a computation asked of the service).
    pub fn action(self) -> crate::Action {
        match self {
            GridTool::EstimateJob | GridTool::SubmitJob | GridTool::UploadJobInput | GridTool::CancelJob => {
                crate::Action::Use
            }
            _ => crate::Action::Discover,
        }
    }
}

pub const JOBS_ESTIMATE: &str = "jobs:estimate";
pub const JOBS_SUBMIT: &str = "jobs:submit";
pub const JOBS_READ: &str = "jobs:read";
pub const LOGS_READ: &str = "logs:read";
