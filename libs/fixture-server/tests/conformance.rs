//! The conformance fixtures (`FixtureOptions::conformance`), driven by rmcp's own client over
//! Streamable HTTP: prompts, resources, completion, logging, progress, sampling, elicitation,
//! roots, multi round-trip requests (both protocol eras), subscriptions, Mcp-Param headers.
#![allow(deprecated)] // logging, sampling and roots are deprecated by SEP-2577 in rmcp.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use canopy_fixture_server::{conformance, serve_http, FixtureHandle, FixtureOptions};
use rmcp::{
    model::{
        ArgumentInfo, CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities,
        ClientConfig, ClientRequest, CompleteRequestParams, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequestParams, ElicitResult, ElicitationAction, ErrorCode, GetPromptRequestParams, Implementation,
        ListRootsResult, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
        ReadResourceRequestParams, Reference, ResourceContents, Role, Root, SamplingMessage, ServerResult,
        SetLevelRequestParams, SubscribeRequestParams, UnsubscribeRequestParams,
    },
    service::{NotificationContext, PeerRequestOptions, RequestContext, RunningService, ServiceError},
    transport::StreamableHttpClientTransport,
    ClientHandler, ClientLifecycleMode, ClientServiceExt as _, ErrorData, RoleClient, ServiceExt as _,
};
use serde_json::{json, Value};

/// A client that answers sampling ("Paris"), elicitation (accepts with canned content) and
/// roots, and records what the server sent it.
#[derive(Clone)]
struct Client {
    capabilities: ClientCapabilities,
    logs: Arc<Mutex<Vec<LoggingMessageNotificationParam>>>,
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    elicitations: Arc<Mutex<Vec<Value>>>,
    samplings: Arc<Mutex<Vec<CreateMessageRequestParams>>>,
    tool_list_changes: Arc<Mutex<usize>>,
}

impl Client {
    fn new(capabilities: ClientCapabilities) -> Self {
        Self {
            capabilities,
            logs: Default::default(),
            progress: Default::default(),
            elicitations: Default::default(),
            samplings: Default::default(),
            tool_list_changes: Default::default(),
        }
    }

    fn full() -> Self {
        Self::new(ClientCapabilities::builder().enable_sampling().enable_elicitation().enable_roots().build())
    }
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(self.capabilities.clone(), Implementation::new("conformance-fixture-test", "0"))
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.samplings.lock().unwrap().push(params);
        Ok(CreateMessageResult::new(SamplingMessage::assistant_text("Paris"), "test-model".into())
            .with_stop_reason(CreateMessageResult::STOP_REASON_END_TURN))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let value = serde_json::to_value(&request).unwrap();
        self.elicitations.lock().unwrap().push(value.clone());
        let message = value["message"].as_str().unwrap_or_default();
        let content = if message.contains("color") {
            json!({ "color": "blue" })
        } else if message.contains("context") {
            json!({ "context": "unit tests" })
        } else {
            json!({ "name": "Alice", "username": "alice", "email": "alice@example.com", "ok": true })
        };
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(content))
    }

    async fn list_roots(&self, _context: RequestContext<RoleClient>) -> Result<ListRootsResult, ErrorData> {
        Ok(ListRootsResult::new(vec![Root::new("file:///work/root")]))
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.logs.lock().unwrap().push(params);
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        *self.tool_list_changes.lock().unwrap() += 1;
    }
}

type Running = RunningService<RoleClient, Client>;

async fn start() -> FixtureHandle {
    serve_http("127.0.0.1:0".parse().unwrap(), FixtureOptions::default().with_conformance(true))
        .await
        .expect("serve_http")
}

/// Session-era client (`initialize`).
async fn connect(handle: &FixtureHandle, client: Client) -> Running {
    client.serve(StreamableHttpClientTransport::from_uri(handle.url())).await.expect("connect")
}

/// 2026-07-28 client (`server/discover`, stateless requests).
async fn connect_2026(handle: &FixtureHandle, client: Client) -> Running {
    client
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(handle.url()),
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        )
        .await
        .expect("discover")
}

fn args(v: Value) -> rmcp::model::JsonObject {
    v.as_object().expect("object").clone()
}

async fn call(client: &Running, name: &'static str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("call {name}: {e}"))
}

fn text_of(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("")
}

fn error_code(e: &ServiceError) -> Option<ErrorCode> {
    match e {
        ServiceError::McpError(data) => Some(data.code),
        _ => None,
    }
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn capabilities_and_catalogue() {
    let handle = start().await;
    let client = connect(&handle, Client::full()).await;
    let caps = &client.peer_info().expect("peer info").capabilities;
    assert!(caps.prompts.is_some(), "prompts");
    assert_eq!(caps.resources.as_ref().unwrap().subscribe, Some(true));
    assert!(caps.logging.is_some(), "logging");
    assert!(caps.completions.is_some(), "completions");
    assert_eq!(caps.tools.as_ref().unwrap().list_changed, Some(true));

    let names: BTreeSet<String> = client.list_all_tools().await.unwrap().iter().map(|t| t.name.to_string()).collect();
    for name in conformance::TOOL_NAMES.iter().chain(&["echo", "add", "slow"]) {
        assert!(names.contains(*name), "missing tool {name}");
    }
    let schema_tool =
        client.list_all_tools().await.unwrap().into_iter().find(|t| t.name == "json_schema_2020_12_tool").unwrap();
    assert_eq!(
        Value::Object((*schema_tool.input_schema).clone()),
        conformance::json_schema_2020_12_input_schema(),
        "2020-12 schema served verbatim"
    );
    client.cancel().await.unwrap();

    // Without the option: tools only.
    let plain = serve_http("127.0.0.1:0".parse().unwrap(), FixtureOptions::default()).await.unwrap();
    let client = connect(&plain, Client::full()).await;
    assert!(client.peer_info().unwrap().capabilities.prompts.is_none());
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().all(|t| !t.name.starts_with("test_")));
    assert!(client.list_all_prompts().await.is_err());
    client.cancel().await.unwrap();
    plain.shutdown().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn prompts_get() {
    let handle = start().await;
    let client = connect(&handle, Client::full()).await;

    let names: Vec<String> = client.list_all_prompts().await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "test_simple_prompt",
            "test_prompt_with_arguments",
            "test_prompt_with_embedded_resource",
            "test_prompt_with_image",
            "test_input_required_result_prompt"
        ]
    );

    let simple = client.get_prompt(GetPromptRequestParams::new("test_simple_prompt")).await.unwrap();
    assert_eq!(simple.messages.len(), 1);
    assert_eq!(simple.messages[0].role, Role::User);
    assert_eq!(simple.messages[0].content.as_text().unwrap().text, "This is a simple prompt for testing.");

    let with_args = client
        .get_prompt(
            GetPromptRequestParams::new("test_prompt_with_arguments")
                .with_arguments(args(json!({ "arg1": "hello", "arg2": "world" }))),
        )
        .await
        .unwrap();
    assert_eq!(
        with_args.messages[0].content.as_text().unwrap().text,
        "Prompt with arguments: arg1='hello', arg2='world'"
    );
    let missing = client
        .get_prompt(
            GetPromptRequestParams::new("test_prompt_with_arguments").with_arguments(args(json!({ "arg1": "hello" }))),
        )
        .await
        .unwrap_err();
    assert_eq!(error_code(&missing), Some(ErrorCode::INVALID_PARAMS));

    let embedded = client
        .get_prompt(
            GetPromptRequestParams::new("test_prompt_with_embedded_resource")
                .with_arguments(args(json!({ "resourceUri": "test://example-resource" }))),
        )
        .await
        .unwrap();
    let v = serde_json::to_value(&embedded.messages).unwrap();
    assert_eq!(v[0]["content"]["type"], "resource");
    assert_eq!(v[0]["content"]["resource"]["uri"], "test://example-resource");
    assert_eq!(v[0]["content"]["resource"]["mimeType"], "text/plain");
    assert_eq!(v[1]["content"]["type"], "text");

    let image = client.get_prompt(GetPromptRequestParams::new("test_prompt_with_image")).await.unwrap();
    let v = serde_json::to_value(&image.messages).unwrap();
    assert_eq!(v[0]["content"]["type"], "image");
    assert_eq!(v[0]["content"]["mimeType"], "image/png");
    assert_eq!(v[0]["content"]["data"], conformance::TEST_PNG_BASE64);

    // Elicits its context first (a server-to-client request on this session-era client).
    let needs_input =
        client.get_prompt(GetPromptRequestParams::new("test_input_required_result_prompt")).await.unwrap();
    assert_eq!(needs_input.messages[0].content.as_text().unwrap().text, "Answer using this context: unit tests");

    let unknown = client.get_prompt(GetPromptRequestParams::new("nope")).await.unwrap_err();
    assert_eq!(error_code(&unknown), Some(ErrorCode::INVALID_PARAMS));
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn resources_read() {
    let handle = start().await;
    let client = connect(&handle, Client::full()).await;

    let uris: Vec<String> = client.list_all_resources().await.unwrap().into_iter().map(|r| r.uri).collect();
    assert_eq!(uris, ["test://static-text", "test://static-binary", "test://watched-resource"]);
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].uri_template, "test://template/{id}/data");

    let read = |uri: &'static str| {
        let client = &client;
        async move { client.read_resource(ReadResourceRequestParams::new(uri)).await }
    };
    let text = read("test://static-text").await.unwrap();
    match &text.contents[..] {
        [ResourceContents::TextResourceContents { uri, mime_type, text, .. }] => {
            assert_eq!(uri, "test://static-text");
            assert_eq!(mime_type.as_deref(), Some("text/plain"));
            assert_eq!(text, "This is the content of the static text resource.");
        }
        other => panic!("unexpected contents {other:?}"),
    }
    let binary = read("test://static-binary").await.unwrap();
    match &binary.contents[..] {
        [ResourceContents::BlobResourceContents { mime_type, blob, .. }] => {
            assert_eq!(mime_type.as_deref(), Some("image/png"));
            assert_eq!(blob, conformance::TEST_PNG_BASE64);
        }
        other => panic!("unexpected contents {other:?}"),
    }
    let templated = read("test://template/123/data").await.unwrap();
    match &templated.contents[..] {
        [ResourceContents::TextResourceContents { uri, mime_type, text, .. }] => {
            assert_eq!(uri, "test://template/123/data");
            assert_eq!(mime_type.as_deref(), Some("application/json"));
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v, json!({ "id": "123", "templateTest": true, "data": "Data for ID: 123" }));
        }
        other => panic!("unexpected contents {other:?}"),
    }
    let missing = read("test://nonexistent").await.unwrap_err();
    assert_eq!(error_code(&missing), Some(ErrorCode::RESOURCE_NOT_FOUND));

    // Subscriptions (session era).
    client.subscribe(SubscribeRequestParams::new("test://watched-resource")).await.unwrap();
    client.unsubscribe(UnsubscribeRequestParams::new("test://watched-resource")).await.unwrap();
    assert!(client.subscribe(SubscribeRequestParams::new("test://nonexistent")).await.is_err());
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn completion() {
    let handle = start().await;
    let client = connect(&handle, Client::full()).await;
    let complete = |r: Reference, name: &'static str, value: &'static str| {
        let client = &client;
        async move {
            client
                .complete(CompleteRequestParams::new(r, ArgumentInfo::new(name, value)))
                .await
                .unwrap()
                .completion
                .values
        }
    };
    assert_eq!(
        complete(Reference::for_prompt("test_prompt_with_arguments"), "arg1", "pa").await,
        ["paris", "park", "party"]
    );
    assert!(complete(Reference::for_prompt("test_prompt_with_arguments"), "arg1", "zzz").await.is_empty());
    assert_eq!(complete(Reference::for_resource("test://template/{id}/data"), "id", "1").await, ["1", "123"]);
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn logging_respects_level_and_progress_is_reported() {
    let handle = start().await;
    let recorder = Client::full();
    let client = connect(&handle, recorder.clone()).await;

    client.set_level(SetLevelRequestParams::new(LoggingLevel::Info)).await.unwrap();
    let result = call(&client, "test_tool_with_logging", json!({})).await;
    assert_ne!(result.is_error, Some(true));
    wait_for(|| recorder.logs.lock().unwrap().len() >= 3).await;
    let logs: Vec<Value> = recorder.logs.lock().unwrap().iter().map(|l| l.data.clone()).collect();
    assert_eq!(
        logs,
        [json!("Tool execution started"), json!("Tool processing data"), json!("Tool execution completed")]
    );

    client.set_level(SetLevelRequestParams::new(LoggingLevel::Error)).await.unwrap();
    call(&client, "test_tool_with_logging", json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(recorder.logs.lock().unwrap().len(), 3, "info logs filtered out at error");

    // Progress 0, 50, 100 of 100.
    let request = client
        .send_request_with_option(
            ClientRequest::CallToolRequest(CallToolRequest::new(CallToolRequestParams::new("test_tool_with_progress"))),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let token = request.progress_token.clone();
    let ServerResult::CallToolResult(_) = request.await_response().await.unwrap() else {
        panic!("unexpected response");
    };
    wait_for(|| recorder.progress.lock().unwrap().len() >= 3).await;
    let progress: Vec<(f64, Option<f64>)> = recorder
        .progress
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.progress_token == token)
        .map(|p| (p.progress, p.total))
        .collect();
    assert_eq!(progress, [(0.0, Some(100.0)), (50.0, Some(100.0)), (100.0, Some(100.0))]);
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn content_tools() {
    let handle = start().await;
    let client = connect(&handle, Client::full()).await;
    let v = |r: &CallToolResult| serde_json::to_value(&r.content).unwrap();

    let r = call(&client, "test_simple_text", json!({})).await;
    assert_eq!(text_of(&r), "This is a simple text response for testing.");
    let r = call(&client, "test_image_content", json!({})).await;
    assert_eq!(v(&r)[0]["type"], "image");
    assert_eq!(v(&r)[0]["mimeType"], "image/png");
    let r = call(&client, "test_audio_content", json!({})).await;
    assert_eq!(v(&r)[0]["type"], "audio");
    assert_eq!(v(&r)[0]["mimeType"], "audio/wav");
    let r = call(&client, "test_embedded_resource", json!({})).await;
    assert_eq!(v(&r)[0]["resource"]["uri"], "test://embedded-resource");
    let r = call(&client, "test_multiple_content_types", json!({})).await;
    let types: Vec<Value> = v(&r).as_array().unwrap().iter().map(|c| c["type"].clone()).collect();
    assert_eq!(types, [json!("text"), json!("image"), json!("resource")]);
    let r = call(&client, "test_error_handling", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(!text_of(&r).is_empty());
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

/// Session era: sampling, elicitation and roots are server-to-client requests.
#[tokio::test]
async fn sampling_elicitation_roots_session_era() {
    let handle = start().await;
    let recorder = Client::full();
    let client = connect(&handle, recorder.clone()).await;

    let r = call(&client, "test_sampling", json!({ "prompt": "Capital of France?" })).await;
    assert_eq!(text_of(&r), "LLM response: Paris");
    let sampled = recorder.samplings.lock().unwrap()[0].clone();
    assert_eq!(sampled.max_tokens, 100);
    assert_eq!(sampled.messages[0].content.first().unwrap().as_text().unwrap().text, "Capital of France?");

    let r = call(&client, "test_elicitation", json!({ "message": "Who are you?" })).await;
    assert!(text_of(&r).starts_with("User response: action=accept"), "{}", text_of(&r));
    assert!(text_of(&r).contains("alice@example.com"));

    call(&client, "test_elicitation_sep1034_defaults", json!({})).await;
    call(&client, "test_elicitation_sep1330_enums", json!({})).await;
    let elicitations = recorder.elicitations.lock().unwrap().clone();
    assert_eq!(elicitations[0]["message"], "Who are you?");
    let defaults = &elicitations[1]["requestedSchema"]["properties"];
    assert_eq!(defaults["name"]["default"], "John Doe");
    assert_eq!(defaults["age"]["default"], 30);
    assert_eq!(defaults["score"]["default"], 95.5);
    assert_eq!(defaults["status"]["default"], "active");
    assert_eq!(defaults["verified"]["default"], true);
    let enums = &elicitations[2]["requestedSchema"]["properties"];
    assert!(enums["untitledSingle"]["enum"].is_array());
    assert_eq!(enums["titledSingle"]["oneOf"][0]["const"], "value1");
    assert_eq!(enums["legacyEnum"]["enumNames"][0], "Option One");
    assert!(enums["untitledMulti"]["items"]["enum"].is_array());
    assert_eq!(enums["titledMulti"]["items"]["anyOf"][1]["title"], "Second Choice");

    // Multi round-trip fixtures run all their rounds inside the session-era request.
    let r = call(&client, "test_input_required_result_multi_round", json!({})).await;
    assert_eq!(text_of(&r), "Alice's favorite color is blue");
    let r = call(&client, "test_input_required_result_list_roots", json!({})).await;
    assert_eq!(text_of(&r), "Client roots (1): file:///work/root");
    let r = call(&client, "test_input_required_result_multiple_inputs", json!({})).await;
    assert_eq!(text_of(&r), "name=Alice, greeting=Paris, roots=file:///work/root");
    client.cancel().await.unwrap();

    // A client without sampling gets a tool error, not a hang.
    let bare = connect(&handle, Client::new(ClientCapabilities::default())).await;
    let r = call(&bare, "test_sampling", json!({ "prompt": "x" })).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text_of(&r).contains("sampling"));
    bare.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

/// 2026-07-28: `input_required` results, answered by rmcp's client on retry.
#[tokio::test]
async fn input_required_results_2026() {
    let handle = start().await;
    let recorder = Client::full();
    let client = connect_2026(&handle, recorder.clone()).await;

    let r = call(&client, "test_input_required_result_elicitation", json!({})).await;
    assert_eq!(text_of(&r), "Hello, Alice!");
    let r = call(&client, "test_sampling", json!({ "prompt": "Capital?" })).await;
    assert_eq!(text_of(&r), "LLM response: Paris");
    let r = call(&client, "test_input_required_result_multi_round", json!({})).await;
    assert_eq!(text_of(&r), "Alice's favorite color is blue");
    let r = call(&client, "test_input_required_result_request_state", json!({})).await;
    assert!(text_of(&r).contains("state-ok"));
    let prompt = client.get_prompt(GetPromptRequestParams::new("test_input_required_result_prompt")).await.unwrap();
    assert_eq!(prompt.messages[0].content.as_text().unwrap().text, "Answer using this context: unit tests");

    // By hand: the first round hands out a sealed requestState; a tampered one is -32602.
    let first =
        client.call_tool_once(CallToolRequestParams::new("test_input_required_result_tampered_state")).await.unwrap();
    let CallToolResponse::InputRequired(first) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let state = first.request_state.clone().expect("requestState");
    let answers = [("confirm".to_owned(), json!({ "action": "accept", "content": { "ok": true } }))]
        .into_iter()
        .collect::<rmcp::model::InputResponses>();
    let tampered = client
        .call_tool_once(
            CallToolRequestParams::new("test_input_required_result_tampered_state")
                .with_input_responses(answers.clone())
                .with_request_state(format!("{state}-TAMPERED")),
        )
        .await
        .unwrap_err();
    assert_eq!(error_code(&tampered), Some(ErrorCode::INVALID_PARAMS));
    let good = client
        .call_tool_once(
            CallToolRequestParams::new("test_input_required_result_tampered_state")
                .with_input_responses(answers)
                .with_request_state(state),
        )
        .await
        .unwrap();
    assert!(matches!(good, CallToolResponse::Complete(_)), "{good:?}");
    client.cancel().await.unwrap();

    // Without sampling, a 2026-07-28 client gets -32021.
    let bare = connect_2026(&handle, Client::new(ClientCapabilities::default())).await;
    let missing = bare.call_tool(CallToolRequestParams::new("test_missing_capability")).await.unwrap_err();
    assert_eq!(error_code(&missing), Some(ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY));
    bare.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

/// `Mcp-Param-*` headers: rmcp's 2026-07-28 client mirrors `x-mcp-header` arguments and the
/// fixture checks them.
#[tokio::test]
async fn custom_param_headers_2026() {
    let handle = start().await;
    let client = connect_2026(&handle, Client::full()).await;
    client.list_all_tools().await.unwrap(); // the client learns the x-mcp-header annotations
    let r = call(&client, "test_custom_headers", json!({ "region": "us-west1", "priority": 42, "query": "SELECT 1" }))
        .await;
    let report = r.structured_content.expect("structuredContent");
    assert_eq!(report["arguments"]["region"], "us-west1");
    assert_eq!(report["headers"]["mcp-param-region"], "us-west1");
    assert_eq!(report["headers"]["mcp-param-priority"], "42");
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

/// `test_trigger_tool_change` sends `notifications/tools/list_changed` on the session.
#[tokio::test]
async fn trigger_tool_change_notifies_the_session() {
    let handle = start().await;
    let recorder = Client::full();
    let client = connect(&handle, recorder.clone()).await;
    call(&client, "test_trigger_tool_change", json!({})).await;
    wait_for(|| *recorder.tool_list_changes.lock().unwrap() >= 1).await;
    assert_eq!(*recorder.tool_list_changes.lock().unwrap(), 1);
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}
