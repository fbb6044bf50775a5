//! Uploaded inputs: `upload_job_input` creates the slot (an input aggregate, pending) and
//! answers a signed `PUT` URL bound to the one object and the tenant's upload limit, a random
//! token and the `complete_url`; `complete_job_input` checks the token (only its keyed digest is
//! stored, in `job_input_tokens`) and what storage actually holds (`head`: there must be an
//! object, within the limit; an S3 object over it, which a presigned PUT cannot prevent, is
//! deleted), then the input is `ready`. `list_job_inputs` lists the tenant's inputs.

use crate::args;
use crate::error::JobsError;
use crate::views::{self, time};
use crate::{Caller, Jobs};
use canopy_api_types::jobs::{JobInputView, JobInputsView, UploadSlot, UploadSlotView};
use canopy_api_types::ErrorCode;
use canopy_blobs::{BlobError, BlobKey};
use canopy_domain::job_input::{Completion, InputCommand, InputError, JobInput};
use canopy_domain::{InputId, TenantId};
use canopy_policy::GridTool;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::time::Duration;

/// How long after its upload URL expires a slot's token still completes it.
const COMPLETE_GRACE: Duration = Duration::from_secs(60 * 60);
pub const INPUTS_DEFAULT_LIMIT: u32 = 100;
pub const INPUTS_MAX_LIMIT: u32 = 500;

/// Where an input's bytes are kept (and where the job-poller reads them):
/// `tenants/{tenant}/inputs/{input_id}/content`. The filename stays in the input's events; it
/// is not part of the key, so any filename the domain accepts can be stored.
pub fn input_key(tenant: &TenantId, input: &InputId) -> Result<BlobKey, JobsError> {
    BlobKey::job_input(tenant, input.as_str(), "content")
        .map_err(|e| JobsError::internal("an input's object key is invalid", e))
}

fn input_not_found(id: &InputId) -> JobsError {
    JobsError::refused(ErrorCode::JobInputNotFound, format!("input '{id}' was not found"))
}

impl Jobs {
    fn token_mac(&self, input: &InputId) -> Hmac<Sha256> {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.inner.upload_token_key);
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into());
        mac.update(input.as_str().as_bytes());
        mac.update(b"\n");
        mac
    }

    fn token_digest(&self, input: &InputId, token: &str) -> String {
        let mut mac = self.token_mac(input);
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `upload_job_input`: a pending input and where to upload its bytes.
    pub async fn upload_job_input(&self, caller: &Caller, arguments: &Value) -> Result<UploadSlotView, JobsError> {
        caller.require(GridTool::UploadJobInput, || JobsError::not_found("the jobs service"))?;
        let args = args::object(arguments)?;
        let filename = args::required(args, "filename", None)?.to_string();
        let content_type = args::string(args, "content_type", None)?.map(str::to_string);
        let kind = args::string(args, "kind", None)?.map(str::to_string);
        let limit = self.settings().quotas(&caller.tenant).max_upload_bytes;
        let id = InputId::from_uuid(uuid::Uuid::now_v7());
        let command = InputCommand::CreateSlot {
            id: id.clone(),
            filename: filename.clone(),
            content_type: content_type.clone(),
            kind,
            max_size_bytes: limit,
        };
        let outcome = self
            .executor()
            .execute::<JobInput>(&caller.context(), id.as_str(), &command)
            .await
            .map_err(JobsError::execute)?;
        let stored_type = outcome.state.state().map(|s| s.content_type.clone());
        let key = input_key(&caller.tenant, &id)?;
        let url = self
            .urls()
            .upload_url(&key, limit, content_type.as_deref(), self.settings().url_ttl)
            .await
            .map_err(|e| JobsError::internal("signing the upload URL failed", e))?;
        let token = canopy_secrets::Sealer::generate_token();
        let token_expires = url.expires_at() + chrono::Duration::from_std(COMPLETE_GRACE).unwrap_or_default();
        sqlx::query(
            "INSERT INTO job_input_tokens (tenant_id, input_id, token_digest, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(caller.tenant.as_str())
        .bind(id.as_str())
        .bind(self.token_digest(&id, &token))
        .bind(token_expires)
        .execute(self.pool())
        .await?;
        tracing::debug!(input = %id, url = %url.redacted(), content_type = ?stored_type, "upload slot created");
        let complete_url = format!("{}/api/v0/job-inputs/{id}/complete", self.settings().public_base);
        Ok(UploadSlotView {
            upload: UploadSlot {
                input_id: id.to_string(),
                filename,
                method: "PUT".into(),
                upload_url: url.expose().to_string(),
                token,
                expires_at: time(url.expires_at()),
                complete_url,
                max_size_bytes: limit,
            },
        })
    }

    /// The `complete_url` call: `{input_id, token, filename?, content_type?, size_bytes?,
    /// etag?, sha256?}`. The input becomes `ready` with its mount path.
    pub async fn complete_job_input(&self, caller: &Caller, arguments: &Value) -> Result<JobInputView, JobsError> {
        let args = args::object(arguments)?;
        let id = args::input_id(args)?;
        caller.require(GridTool::UploadJobInput, || input_not_found(&id))?;
        let token = args::required(args, "token", None)?;
        let row = canopy_readmodels::get_job_input(self.pool(), &caller.tenant, &id)
            .await?
            .ok_or_else(|| input_not_found(&id))?;
        let stored: Option<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT token_digest, expires_at FROM job_input_tokens WHERE tenant_id = $1 AND input_id = $2",
        )
        .bind(caller.tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        let wrong = || JobsError::invalid("token", "does not match this upload slot");
        let (digest, expires_at) = stored.ok_or_else(wrong)?;
        let digest_bytes: Vec<u8> = (0..digest.len())
            .step_by(2)
            .filter_map(|i| digest.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        let mut mac = self.token_mac(&id);
        mac.update(token.as_bytes());
        mac.verify_slice(&digest_bytes).map_err(|_| wrong())?;
        if expires_at < chrono::Utc::now() {
            return Err(JobsError::invalid("token", "has expired; create a new upload slot"));
        }
        let key = input_key(&caller.tenant, &id)?;
        let meta = match self.urls().store().head(&key).await {
            Ok(meta) => meta,
            Err(BlobError::NotFound) => {
                return Err(JobsError::refused(
                    ErrorCode::JobInputNotReady,
                    format!("input '{id}' has no uploaded bytes yet: PUT them to its upload_url first"),
                ))
            }
            Err(e) => return Err(JobsError::internal("reading the uploaded object failed", e)),
        };
        let limit = row.state.max_size_bytes;
        if meta.size_bytes > limit {
            // A presigned S3 PUT cannot be held to a size: what went over is removed here.
            if let Err(e) = self.urls().store().delete(&key).await {
                tracing::warn!(input = %id, error = %e, "deleting an oversized upload failed");
            }
            return Err(JobsError::domain(InputError::TooLarge { stored: meta.size_bytes, limit }));
        }
        let completion = Completion {
            filename: args::string(args, "filename", None)?.map(str::to_string),
            content_type: args::string(args, "content_type", None)?.map(str::to_string),
            declared_size_bytes: args::unsigned(args, "size_bytes")?,
            stored_size_bytes: meta.size_bytes,
            etag: args::string(args, "etag", None)?.map(str::to_string).or(meta.etag),
            sha256: args::string(args, "sha256", None)?.map(str::to_string),
        };
        self.executor()
            .execute::<JobInput>(&caller.context(), id.as_str(), &InputCommand::Complete(completion))
            .await
            .map_err(JobsError::execute)?;
        let row = canopy_readmodels::get_job_input(self.pool(), &caller.tenant, &id)
            .await?
            .ok_or_else(|| input_not_found(&id))?;
        Ok(views::input(&row))
    }

    /// `list_job_inputs`: the tenant's inputs and scripts, newest first.
    pub async fn list_job_inputs(&self, caller: &Caller, arguments: &Value) -> Result<JobInputsView, JobsError> {
        caller.require(GridTool::ListJobInputs, || JobsError::not_found("the jobs service"))?;
        let limit = match arguments {
            Value::Null => INPUTS_DEFAULT_LIMIT,
            other => args::limit(args::object(other)?, INPUTS_DEFAULT_LIMIT, INPUTS_MAX_LIMIT)?,
        };
        let rows = canopy_readmodels::list_job_inputs(self.pool(), &caller.tenant, limit).await?;
        Ok(JobInputsView { inputs: rows.iter().map(views::input).collect() })
    }
}
