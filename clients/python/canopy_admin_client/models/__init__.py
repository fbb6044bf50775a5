"""Contains all the data models used in inputs/outputs"""

from .artifact_contract_view import ArtifactContractView
from .artifact_download_view import ArtifactDownloadView
from .artifact_view import ArtifactView
from .artifacts_view import ArtifactsView
from .audit_entry import AuditEntry
from .audit_kind import AuditKind
from .audit_outcome import AuditOutcome
from .audit_page import AuditPage
from .backend_option import BackendOption
from .cancel_job_request import CancelJobRequest
from .cancelled_job_view import CancelledJobView
from .classification import Classification
from .complete_job_input_request import CompleteJobInputRequest
from .cost_range import CostRange
from .create_job_input_request import CreateJobInputRequest
from .create_mcp_client_request import CreateMcpClientRequest
from .create_tenant_request import CreateTenantRequest
from .create_user_request import CreateUserRequest
from .created_mcp_client import CreatedMcpClient
from .created_tenant import CreatedTenant
from .created_user import CreatedUser
from .credit_amount import CreditAmount
from .credits_view import CreditsView
from .destroyed_python_env_view import DestroyedPythonEnvView
from .error_body import ErrorBody
from .error_code import ErrorCode
from .error_envelope import ErrorEnvelope
from .estimate_job_request import EstimateJobRequest
from .estimate_view import EstimateView
from .failure_highlight import FailureHighlight
from .freeze_python_environment_response_200 import FreezePythonEnvironmentResponse200
from .grant_credits_request import GrantCreditsRequest
from .group_request import GroupRequest
from .group_view import GroupView
from .health import Health
from .identity_provider_request import IdentityProviderRequest
from .identity_provider_view import IdentityProviderView
from .initialized_server import InitializedServer
from .invoke_tool_request import InvokeToolRequest
from .invoke_tool_response_200 import InvokeToolResponse200
from .job_event_view import JobEventView
from .job_events_view import JobEventsView
from .job_failure_view import JobFailureView
from .job_input_view import JobInputView
from .job_inputs_view import JobInputsView
from .job_list_view import JobListView
from .job_logs_view import JobLogsView
from .job_view import JobView
from .job_view_metadata import JobViewMetadata
from .log_entry_view import LogEntryView
from .maintenance_view import MaintenanceView
from .mcp_client_view import McpClientView
from .me_view import MeView
from .mounted_input_view import MountedInputView
from .o_auth_grant_view import OAuthGrantView
from .operator_view import OperatorView
from .prompt_view import PromptView
from .prompt_view_arguments_item import PromptViewArgumentsItem
from .provider_view import ProviderView
from .python_env_view import PythonEnvView
from .python_session_view import PythonSessionView
from .read_resource_request import ReadResourceRequest
from .read_resource_response_200 import ReadResourceResponse200
from .readiness import Readiness
from .readiness_checks import ReadinessChecks
from .register_server_request import RegisterServerRequest
from .register_server_request_env import RegisterServerRequestEnv
from .register_server_request_headers import RegisterServerRequestHeaders
from .render_prompt_request import RenderPromptRequest
from .render_prompt_request_arguments_type_0 import RenderPromptRequestArgumentsType0
from .render_prompt_response_200 import RenderPromptResponse200
from .resource_view import ResourceView
from .resource_view_definition import ResourceViewDefinition
from .route_view import RouteView
from .scheduling_view import SchedulingView
from .server_view import ServerView
from .server_view_env import ServerViewEnv
from .server_view_headers import ServerViewHeaders
from .set_maintenance_request import SetMaintenanceRequest
from .submit_job_request import SubmitJobRequest
from .submit_job_request_env import SubmitJobRequestEnv
from .submit_job_request_metadata_type_0 import SubmitJobRequestMetadataType0
from .tenant_view import TenantView
from .tool_view import ToolView
from .tool_view_annotations_type_0 import ToolViewAnnotationsType0
from .tool_view_input_schema import ToolViewInputSchema
from .tool_view_output_schema_type_0 import ToolViewOutputSchemaType0
from .update_mcp_client_request import UpdateMcpClientRequest
from .update_user_request import UpdateUserRequest
from .upload_slot import UploadSlot
from .upload_slot_view import UploadSlotView
from .user_view import UserView

__all__ = (
    "ArtifactContractView",
    "ArtifactDownloadView",
    "ArtifactsView",
    "ArtifactView",
    "AuditEntry",
    "AuditKind",
    "AuditOutcome",
    "AuditPage",
    "BackendOption",
    "CancelJobRequest",
    "CancelledJobView",
    "Classification",
    "CompleteJobInputRequest",
    "CostRange",
    "CreatedMcpClient",
    "CreatedTenant",
    "CreatedUser",
    "CreateJobInputRequest",
    "CreateMcpClientRequest",
    "CreateTenantRequest",
    "CreateUserRequest",
    "CreditAmount",
    "CreditsView",
    "DestroyedPythonEnvView",
    "ErrorBody",
    "ErrorCode",
    "ErrorEnvelope",
    "EstimateJobRequest",
    "EstimateView",
    "FailureHighlight",
    "FreezePythonEnvironmentResponse200",
    "GrantCreditsRequest",
    "GroupRequest",
    "GroupView",
    "Health",
    "IdentityProviderRequest",
    "IdentityProviderView",
    "InitializedServer",
    "InvokeToolRequest",
    "InvokeToolResponse200",
    "JobEventsView",
    "JobEventView",
    "JobFailureView",
    "JobInputsView",
    "JobInputView",
    "JobListView",
    "JobLogsView",
    "JobView",
    "JobViewMetadata",
    "LogEntryView",
    "MaintenanceView",
    "McpClientView",
    "MeView",
    "MountedInputView",
    "OAuthGrantView",
    "OperatorView",
    "PromptView",
    "PromptViewArgumentsItem",
    "ProviderView",
    "PythonEnvView",
    "PythonSessionView",
    "Readiness",
    "ReadinessChecks",
    "ReadResourceRequest",
    "ReadResourceResponse200",
    "RegisterServerRequest",
    "RegisterServerRequestEnv",
    "RegisterServerRequestHeaders",
    "RenderPromptRequest",
    "RenderPromptRequestArgumentsType0",
    "RenderPromptResponse200",
    "ResourceView",
    "ResourceViewDefinition",
    "RouteView",
    "SchedulingView",
    "ServerView",
    "ServerViewEnv",
    "ServerViewHeaders",
    "SetMaintenanceRequest",
    "SubmitJobRequest",
    "SubmitJobRequestEnv",
    "SubmitJobRequestMetadataType0",
    "TenantView",
    "ToolView",
    "ToolViewAnnotationsType0",
    "ToolViewInputSchema",
    "ToolViewOutputSchemaType0",
    "UpdateMcpClientRequest",
    "UpdateUserRequest",
    "UploadSlot",
    "UploadSlotView",
    "UserView",
)
