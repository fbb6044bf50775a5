//! Tenants are walls: globex asking for acme's job, input or artifact gets exactly what an id
//! that exists nowhere gets, on every operation; and a token without Jungle Grid's scope is
//! told which scope it lacks.

use crate::harness::{harness, hello, owner, refusal, runner, tenant};
use canopy_domain::identity::Role;
use canopy_domain::job::{Artifact, Execution, Outcome};
use canopy_domain::{ArtifactId, Credits};
use canopy_jobs::Caller;
use canopy_policy::{Principal, Scopes, TenantView};
use serde_json::json;

#[tokio::test]
async fn another_tenants_ids_are_not_found_on_every_operation() {
    let h = harness(|_| {}).await;
    let (acme, globex) = (owner("acme"), owner("globex"));
    h.grant("acme", "5").await;
    let job = h.jobs.submit_job(&acme, &hello("private")).await.unwrap();
    let lease = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap().lease;
    h.jobs.mark_running(&lease, Execution { backend: "local".into(), execution_id: "e".into() }, vec![]).await.unwrap();
    let artifact = Artifact {
        artifact_id: ArtifactId::parse("art_1").unwrap(),
        path: "/workspace/artifacts/output.txt".into(),
        size_bytes: 1,
        content_type: "text/plain".into(),
        sha256: "0".repeat(64),
    };
    h.jobs.finish(&lease, Outcome::Succeeded { exit_code: Some(0) }, vec![artifact], Credits::ZERO).await.unwrap();
    let upload = h.jobs.upload_job_input(&acme, &json!({"filename": "a.txt"})).await.unwrap().upload;

    let nowhere = "job_0000000000000000000000000000dead";
    for (job_id, input_id) in [(job.job_id.as_str(), upload.input_id.as_str()), (nowhere, "inp_nowhere")] {
        let id = json!({"job_id": job_id});
        let art = json!({"job_id": job_id, "artifact_id": "art_1"});
        let expected = ("NOT_FOUND".to_string(), format!("job '{job_id}' was not found"));
        assert_eq!(refusal(h.jobs.get_job(&globex, &id).await), expected);
        assert_eq!(refusal(h.jobs.get_job_events(&globex, &id).await), expected);
        assert_eq!(refusal(h.jobs.get_job_logs(&globex, &id).await), expected);
        assert_eq!(refusal(h.jobs.follow_job_logs(&globex, &id, None).await.map(|_| ())), expected);
        assert_eq!(refusal(h.jobs.cancel_job(&globex, &id).await), expected);
        assert_eq!(refusal(h.jobs.list_artifacts(&globex, &id).await), expected);
        assert_eq!(refusal(h.jobs.get_artifact(&globex, &art).await), expected);
        let complete = json!({"input_id": input_id, "token": upload.token});
        let input_expected = ("JOB_INPUT_NOT_FOUND".to_string(), format!("input '{input_id}' was not found"));
        assert_eq!(refusal(h.jobs.complete_job_input(&globex, &complete).await), input_expected);
        let mut submit = hello("steal");
        submit["input_files"] = json!([input_id]);
        h.grant("globex", "2").await;
        assert_eq!(refusal(h.jobs.submit_job(&globex, &submit).await), input_expected);
    }
    assert!(h.jobs.list_jobs(&globex, &json!({})).await.unwrap().jobs.is_empty());
    assert!(h.jobs.list_job_inputs(&globex, &json!({})).await.unwrap().inputs.is_empty());
    // acme still sees all of it.
    assert_eq!(h.jobs.list_artifacts(&acme, &json!({"job_id": job.job_id})).await.unwrap().artifacts.len(), 1);

    // A token with only jobs:read reads but does not submit; a user of acme without a tenant
    // match sees nothing.
    let reader = Caller::new(
        tenant("acme"),
        Principal::user(tenant("acme"), "user:reader", Role::Member).with_scopes(Scopes::parse("jobs:read")),
        TenantView::new(),
    );
    h.jobs.get_job(&reader, &json!({"job_id": job.job_id})).await.unwrap();
    let error = h.jobs.submit_job(&reader, &hello("nope")).await.unwrap_err();
    assert_eq!(error.public_message(), "the token lacks the 'jobs:submit' scope");
    let error = h.jobs.get_job_logs(&reader, &json!({"job_id": job.job_id})).await.unwrap_err();
    assert_eq!(error.public_message(), "the token lacks the 'logs:read' scope");
}
