"""CodePipeline scenarios driven with boto3 against `pipewright serve`.

Run by crates/cli/tests/api_clients.rs:  python boto3_scenarios.py ENDPOINT SCENARIO WORKDIR
Each scenario asserts what a CodePipeline user relies on, and exits non-zero on the first
difference. Only the endpoint differs from talking to AWS.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore
import botocore.config
import botocore.exceptions

ENDPOINT, SCENARIO, WORKDIR = sys.argv[1], sys.argv[2], sys.argv[3]
REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))

client = boto3.client(
    "codepipeline",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    aws_access_key_id="AKIDPIPEWRIGHTTEST",
    aws_secret_access_key="secret",
)


def error_code(call, **kwargs):
    """The exception name the call fails with (botocore's `Error.Code`)."""
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__}({kwargs}) succeeded; expected an error")


def wait_for(what, predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def execution_status(name, execution_id):
    execution = client.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
    return execution["pipelineExecution"]["status"]


def create_pipeline(**kwargs):
    """CreatePipeline, which (as on CodePipeline) starts an execution at once. The scenarios
    drive executions of their own, so that first one is stopped and abandoned before they go
    on: it would otherwise hold the stages (or the approval) they wait on."""
    created = client.create_pipeline(**kwargs)
    name = kwargs["pipeline"]["name"]

    def first():
        summaries = client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
        return next((s for s in summaries if s["trigger"]["triggerType"] == "CreatePipeline"), None)

    execution_id = wait_for("CreatePipeline's execution", first)["pipelineExecutionId"]
    try:
        client.stop_pipeline_execution(
            pipelineName=name, pipelineExecutionId=execution_id, abandon=True, reason="the scenario starts its own"
        )
    except client.exceptions.PipelineExecutionNotStoppableException:
        pass  # it ended already
    wait_for(
        "CreatePipeline's execution to end",
        lambda: execution_status(name, execution_id) in ("Stopped", "Succeeded", "Failed", "Superseded"),
    )
    return created


def contains(answered, sent):
    """True when `answered` holds everything of `sent`: CodePipeline answers the declaration
    normalised, with its defaults written out (runOrder, empty artifact lists, ...)."""
    if isinstance(sent, dict):
        return isinstance(answered, dict) and all(k in answered and contains(answered[k], v) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(answered, list) and len(answered) == len(sent) and all(map(contains, answered, sent))
    return answered == sent


def stage_state(name, stage):
    state = client.get_pipeline_state(name=name)
    return next(s for s in state["stageStates"] if s["stageName"] == stage)


def action_state(name, stage, action):
    return next(a for a in stage_state(name, stage)["actionStates"] if a["actionName"] == action)


def commands_pipeline(name, stages, mode="SUPERSEDED"):
    """A V2 pipeline: a directory source (the server's --source Src=…), then `stages`."""
    return {
        "name": name,
        "roleArn": "arn:aws:iam::111122223333:role/pipewright-test",
        "artifactStore": {"type": "S3", "location": "pipewright-test-artifacts"},
        "pipelineType": "V2",
        "executionMode": mode,
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Src",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                        "configuration": {"S3Bucket": "uploads", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
                        "outputArtifacts": [{"name": "Code"}],
                    }
                ],
            }
        ]
        + [
            {
                "name": stage,
                "actions": [
                    {
                        "name": action,
                        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                        "commands": commands,
                        "inputArtifacts": [{"name": "Code"}],
                    }
                    for action, commands in actions
                ],
            }
            for stage, actions in stages
        ],
    }


def approval_to_success():
    """create-pipeline from infra/pipelines, start, the approval token from
    get-pipeline-state, put-approval-result, list-pipeline-executions until Succeeded."""
    with open(os.path.join(REPO, "infra/pipelines/hello-service-v2.json")) as f:
        declaration = json.load(f)
    created = create_pipeline(pipeline=declaration, tags=[{"key": "team", "value": "web"}])
    assert created["pipeline"]["version"] == 1, created
    assert created["tags"] == [{"key": "team", "value": "web"}], created
    assert error_code(client.create_pipeline, pipeline=declaration) == "PipelineNameInUseException"
    got = client.get_pipeline(name="hello-service")
    assert contains(got["pipeline"]["stages"], declaration["stages"]), "the declaration round-trips"
    assert got["metadata"]["pipelineArn"].endswith(":hello-service"), got["metadata"]
    names = [p["name"] for p in client.list_pipelines()["pipelines"]]
    assert "hello-service" in names, names

    deploy_dir = os.path.join(WORKDIR, "deployed")
    execution_id = client.start_pipeline_execution(
        name="hello-service", variables=[{"name": "DeployDir", "value": deploy_dir}]
    )["pipelineExecutionId"]

    def token():
        latest = action_state("hello-service", "Approve", "ReleaseGate").get("latestExecution", {})
        return latest.get("status") == "InProgress" and latest.get("token")

    approval_token = wait_for("the approval to wait", token)
    assert error_code(
        client.put_approval_result,
        pipelineName="hello-service",
        stageName="Approve",
        actionName="ReleaseGate",
        result={"summary": "forged", "status": "Approved"},
        token="00000000-0000-4000-8000-000000000000",
    ) == "InvalidApprovalTokenException"
    approved = client.put_approval_result(
        pipelineName="hello-service",
        stageName="Approve",
        actionName="ReleaseGate",
        result={"summary": "Looks good", "status": "Approved"},
        token=approval_token,
    )
    assert "approvedAt" in approved, approved
    assert error_code(
        client.put_approval_result,
        pipelineName="hello-service",
        stageName="Approve",
        actionName="ReleaseGate",
        result={"summary": "again", "status": "Approved"},
        token=approval_token,
    ) == "ApprovalAlreadyCompletedException"

    def finished():
        summaries = client.list_pipeline_executions(pipelineName="hello-service")["pipelineExecutionSummaries"]
        mine = [s for s in summaries if s["pipelineExecutionId"] == execution_id]
        return mine and mine[0]["status"] != "InProgress" and mine[0]

    summary = wait_for("the execution to end", finished)
    assert summary["status"] == "Succeeded", summary
    assert summary["trigger"]["triggerType"] == "StartPipelineExecution", summary
    assert os.path.isdir(deploy_dir), "the Deploy stage installed into the DeployDir variable"
    gate = action_state("hello-service", "Approve", "ReleaseGate")["latestExecution"]
    assert gate["status"] == "Succeeded" and gate["summary"] == "Looks good", gate
    details = client.list_action_executions(
        pipelineName="hello-service", filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    package = next(d for d in details if d["actionName"] == "Package")
    assert package["output"]["outputVariables"]["RELEASE_ID"] == f"release-{execution_id}", package["output"]
    # Pagination: one at a time, every action once.
    seen, token_ = [], None
    while True:
        kwargs = {"pipelineName": "hello-service", "maxResults": 1, "filter": {"pipelineExecutionId": execution_id}}
        if token_:
            kwargs["nextToken"] = token_
        page = client.list_action_executions(**kwargs)
        seen += [d["actionExecutionId"] for d in page["actionExecutionDetails"]]
        token_ = page.get("nextToken")
        if not token_:
            break
    assert sorted(seen) == sorted(d["actionExecutionId"] for d in details), (seen, details)
    paginator = client.get_paginator("list_pipeline_executions")
    pages = list(paginator.paginate(pipelineName="hello-service", PaginationConfig={"PageSize": 1}))
    # One page each: the scenario's execution, then the one CreatePipeline started.
    assert [len(p["pipelineExecutionSummaries"]) for p in pages] == [1, 1], pages


def retry_after_fix():
    """A failing stage, retried with FAILED_ACTIONS once the cause is fixed."""
    flag = os.path.join(WORKDIR, "fixed")
    client.create_pipeline(
        pipeline=commands_pipeline("retry-me", [("Build", [("Check", [f"test -f {flag}"]), ("Fine", ["true"])])])
    )
    execution_id = client.start_pipeline_execution(name="retry-me")["pipelineExecutionId"]
    wait_for("the failure", lambda: execution_status("retry-me", execution_id) == "Failed")
    check = action_state("retry-me", "Build", "Check")["latestExecution"]
    assert check["status"] == "Failed" and check["errorDetails"]["message"], check
    # Source succeeded: it cannot be retried.
    assert error_code(
        client.retry_stage_execution,
        pipelineName="retry-me",
        stageName="Source",
        pipelineExecutionId=execution_id,
        retryMode="FAILED_ACTIONS",
    ) == "StageNotRetryableException"
    assert error_code(
        client.retry_stage_execution,
        pipelineName="retry-me",
        stageName="Nope",
        pipelineExecutionId=execution_id,
        retryMode="FAILED_ACTIONS",
    ) == "StageNotFoundException"
    open(flag, "w").close()
    retried = client.retry_stage_execution(
        pipelineName="retry-me", stageName="Build", pipelineExecutionId=execution_id, retryMode="FAILED_ACTIONS"
    )
    assert retried["pipelineExecutionId"] == execution_id
    wait_for("the retry to succeed", lambda: execution_status("retry-me", execution_id) == "Succeeded")
    build = stage_state("retry-me", "Build")
    assert build["retryStageMetadata"]["manualStageRetryAttempt"] == 1, build
    details = client.list_action_executions(pipelineName="retry-me", filter={"pipelineExecutionId": execution_id})
    attempts = [d for d in details["actionExecutionDetails"] if d["actionName"] == "Check"]
    fine = [d for d in details["actionExecutionDetails"] if d["actionName"] == "Fine"]
    assert len(attempts) == 2 and len(fine) == 1, "FAILED_ACTIONS re-ran only the failed action"


def stop_and_abandon():
    """Stop and abandon a running action: Stopping, then Stopped, the action Abandoned."""
    create_pipeline(pipeline=commands_pipeline("stop-me", [("Work", [("Sleep", ["sleep 60"])])]))
    execution_id = client.start_pipeline_execution(name="stop-me")["pipelineExecutionId"]
    wait_for(
        "the action to run",
        lambda: action_state("stop-me", "Work", "Sleep").get("latestExecution", {}).get("status") == "InProgress",
    )
    stopped = client.stop_pipeline_execution(
        pipelineName="stop-me", pipelineExecutionId=execution_id, abandon=True, reason="Wrong branch"
    )
    assert stopped["pipelineExecutionId"] == execution_id
    wait_for("Stopped", lambda: execution_status("stop-me", execution_id) == "Stopped")
    assert action_state("stop-me", "Work", "Sleep")["latestExecution"]["status"] == "Abandoned"
    summary = client.list_pipeline_executions(pipelineName="stop-me")["pipelineExecutionSummaries"][0]
    assert summary["stopTrigger"]["reason"] == "Wrong branch", summary
    assert error_code(
        client.stop_pipeline_execution, pipelineName="stop-me", pipelineExecutionId=execution_id
    ) == "PipelineExecutionNotStoppableException"


def transition_hold():
    """A disabled transition holds the execution in front of the stage until it is enabled."""
    client.create_pipeline(pipeline=commands_pipeline("held", [("Build", [("B", ["true"])]), ("Ship", [("S", ["true"])])]))
    client.disable_stage_transition(
        pipelineName="held", stageName="Ship", transitionType="Inbound", reason="Release freeze"
    )
    assert error_code(
        client.disable_stage_transition, pipelineName="held", stageName="Nope", transitionType="Inbound", reason="x"
    ) == "StageNotFoundException"
    execution_id = client.start_pipeline_execution(name="held")["pipelineExecutionId"]

    def held():
        ship = stage_state("held", "Ship")
        return ship.get("inboundExecution", {}).get("pipelineExecutionId") == execution_id and ship

    ship = wait_for("the execution to wait at Ship", held)
    transition = ship["inboundTransitionState"]
    assert transition["enabled"] is False and transition["disabledReason"] == "Release freeze", transition
    assert execution_status("held", execution_id) == "InProgress"
    # Build's outbound transition is the same gate as Ship's inbound one.
    client.enable_stage_transition(pipelineName="held", stageName="Build", transitionType="Outbound")
    wait_for("Succeeded", lambda: execution_status("held", execution_id) == "Succeeded")
    assert stage_state("held", "Ship")["inboundTransitionState"]["enabled"] is True
    assert "inboundTransitionState" not in stage_state("held", "Source"), "the first stage has no inbound transition"
    assert error_code(
        client.disable_stage_transition, pipelineName="held", stageName="Ship", transitionType="Outbound", reason="x"
    ) == "ValidationException", "the last stage has no outbound transition"


def errors_and_bad_input():
    """Error names for missing things, and AWS-style 400s for bad requests, changing nothing."""
    assert error_code(client.get_pipeline_state, name="missing") == "PipelineNotFoundException"
    assert error_code(client.get_pipeline, name="missing") == "PipelineNotFoundException"
    assert error_code(client.start_pipeline_execution, name="missing") == "PipelineNotFoundException"
    assert error_code(
        client.get_pipeline_execution, pipelineName="missing", pipelineExecutionId="00000000-0000-4000-8000-000000000000"
    ) == "PipelineNotFoundException"
    broken = commands_pipeline("broken", [("Build", [("B", ["true"])])])
    broken["stages"][1]["actions"][0]["inputArtifacts"] = [{"name": "Nowhere"}]
    assert error_code(client.create_pipeline, pipeline=broken) == "InvalidActionDeclarationException"
    assert error_code(client.list_pipelines, nextToken="forged") == "InvalidNextTokenException"
    assert error_code(client.poll_for_jobs, actionTypeId={
        "category": "Build", "owner": "Custom", "provider": "X", "version": "1"}) == "ActionTypeNotFoundException"
    assert error_code(client.rollback_stage, pipelineName="x", stageName="y",
                      targetPipelineExecutionId="00000000-0000-4000-8000-000000000000") == "PipelineNotFoundException"
    before = client.list_pipelines()["pipelines"]

    def raw(body, target="CodePipeline_20150709.CreatePipeline"):
        request = urllib.request.Request(
            ENDPOINT + "/",
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
        )
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    status, body = raw(b'{"pipeline": {"name": ')
    assert status == 400 and body["__type"] == "SerializationException", body
    status, body = raw(b"{}", target="CodePipeline_20150709.LaunchRockets")
    assert status == 400 and body["__type"] == "UnknownOperationException", body
    status, body = raw(b'{"pipeline": {"name": 7}}')
    assert status == 400 and "name" in body["message"], body
    status, body = raw(b'{"name": ' + b'"' + b"x" * (2 * 1024 * 1024) + b'"}', target="CodePipeline_20150709.GetPipeline")
    assert status == 400 and body["__type"] == "ValidationException", body
    status, body = raw(b'{"pipeline": {}}')
    assert status == 400 and body["__type"].endswith("Exception"), body
    assert client.list_pipelines()["pipelines"] == before, "nothing changed"


def start_is_idempotent_by_client_request_token():
    client.create_pipeline(pipeline=commands_pipeline("tokened", [("Build", [("B", ["true"])])]))
    first = client.start_pipeline_execution(name="tokened", clientRequestToken="deploy-42")["pipelineExecutionId"]
    again = client.start_pipeline_execution(name="tokened", clientRequestToken="deploy-42")["pipelineExecutionId"]
    assert first == again
    other = client.start_pipeline_execution(name="tokened", clientRequestToken="deploy-43")["pipelineExecutionId"]
    assert other != first
    wait_for("both to end", lambda: all(
        s["status"] != "InProgress"
        for s in client.list_pipeline_executions(pipelineName="tokened")["pipelineExecutionSummaries"]
    ))
    assert len(client.list_pipeline_executions(pipelineName="tokened")["pipelineExecutionSummaries"]) == 3  # with CreatePipeline's
    client.delete_pipeline(name="tokened")
    assert error_code(client.get_pipeline, name="tokened") == "PipelineNotFoundException"


def authentication():
    """A server started with --access-key/--secret-key verifies SigV4: the right key works,
    a wrong secret, an unknown key and an unsigned request are refused."""

    def signed_with(key, secret):
        return boto3.client(
            "codepipeline", endpoint_url=ENDPOINT, region_name="eu-west-1",
            aws_access_key_id=key, aws_secret_access_key=secret,
        )

    good = signed_with("AKIDPIPEWRIGHTTEST", "secret")
    good.create_pipeline(pipeline=commands_pipeline("guarded", [("Build", [("B", ["true"])])]))
    assert [p["name"] for p in good.list_pipelines()["pipelines"]] == ["guarded"]
    assert error_code(signed_with("AKIDPIPEWRIGHTTEST", "wrong").list_pipelines) == "InvalidSignatureException"
    assert error_code(signed_with("AKIDSOMEONEELSE", "secret").list_pipelines) == "UnrecognizedClientException"
    unsigned = boto3.client(
        "codepipeline", endpoint_url=ENDPOINT, region_name="eu-west-1",
        config=botocore.config.Config(signature_version=botocore.UNSIGNED),
    )
    assert error_code(unsigned.delete_pipeline, name="guarded") == "MissingAuthenticationTokenException"
    assert [p["name"] for p in good.list_pipelines()["pipelines"]] == ["guarded"], "nothing was deleted"
    replayed_with_another_body()


def replayed_with_another_body():
    """The attack on a signature that does not cover the body: a CreatePipeline signed by a
    real key is captured, then sent again with another body and the first body's hash in an
    unsigned x-amz-content-sha256 header. The server hashes what arrived and refuses it."""
    import hashlib
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def signed(body):
        request = AWSRequest(method="POST", url=ENDPOINT + "/", data=body, headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "CodePipeline_20150709.CreatePipeline",
        })
        SigV4Auth(Credentials("AKIDPIPEWRIGHTTEST", "secret"), "codepipeline", "eu-west-1").add_auth(request)
        return request

    def send(headers, body):
        request = urllib.request.Request(ENDPOINT + "/", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    original = json.dumps({"pipeline": commands_pipeline("captured", [("Build", [("B", ["true"])])])}).encode()
    captured = signed(original)
    headers = {k: v for k, v in captured.headers.items()}
    evil = json.dumps({"pipeline": commands_pipeline("evil", [("Build", [("B", ["id"])])])}).encode()
    headers["x-amz-content-sha256"] = hashlib.sha256(original).hexdigest()
    status, body = send(headers, evil)
    assert (status, body.get("__type")) == (400, "XAmzContentSHA256Mismatch"), (status, body)
    del headers["x-amz-content-sha256"]
    status, body = send(headers, evil)
    assert (status, body.get("__type")) == (403, "InvalidSignatureException"), (status, body)
    client = boto3.client(
        "codepipeline", endpoint_url=ENDPOINT, region_name="eu-west-1",
        aws_access_key_id="AKIDPIPEWRIGHTTEST", aws_secret_access_key="secret",
    )
    names = [p["name"] for p in client.list_pipelines()["pipelines"]]
    assert "evil" not in names, names
    # The captured request itself, unchanged, is what the key signed.
    status, body = send(dict(captured.headers.items()), original)
    assert status == 200, (status, body)


def lambda_pipeline(name, user_parameters):
    """Source → a Lambda invoke action of the example job worker → a Commands action that
    checks the worker's output artifact and output variables."""
    declaration = commands_pipeline(name, [])
    declaration["stages"] += [
        {
            "name": "Invoke",
            "actions": [
                {
                    "name": "Worker",
                    "namespace": "Fn",
                    "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
                    "configuration": {"FunctionName": "job-worker", "UserParameters": json.dumps(user_parameters)},
                    "inputArtifacts": [{"name": "Code"}],
                    "outputArtifacts": [{"name": "Report"}],
                }
            ],
        },
        {
            "name": "Use",
            "actions": [
                {
                    "name": "Check",
                    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                    "commands": [
                        'test "#{Fn.FileCount}" = 1',
                        'test "#{Fn.Steps}" = "%d"' % user_parameters.get("steps", 1),
                        "grep -q 'message: %s' report.txt" % user_parameters["message"],
                    ],
                    "inputArtifacts": [{"name": "Report"}],
                }
            ],
        },
    ]
    return declaration


def lambda_job_worker():
    """The example job worker under `cargo lambda watch`, invoked by the pipeline, reads its
    input artifact, writes its output, reports through PutJobSuccessResult; its output
    variables feed the next action. A second pipeline takes three invocations, through
    continuation tokens."""
    for name, parameters in [
        ("lambda-once", {"message": "hello"}),
        ("lambda-steps", {"message": "stepped", "steps": 3}),
    ]:
        client.create_pipeline(pipeline=lambda_pipeline(name, parameters))
        execution_id = client.start_pipeline_execution(name=name)["pipelineExecutionId"]
        # The first invocation may wait for cargo-lambda to build the function.
        status = wait_for(
            f"{name} to end",
            lambda: (s := execution_status(name, execution_id)) != "InProgress" and s,
            timeout=600,
        )
        details = client.list_action_executions(pipelineName=name, filter={"pipelineExecutionId": execution_id})
        worker = next(d for d in details["actionExecutionDetails"] if d["actionName"] == "Worker")
        check = next((d for d in details["actionExecutionDetails"] if d["actionName"] == "Check"), None)
        assert status == "Succeeded", (status, worker, check)
        assert worker["output"]["outputVariables"]["FileCount"] == "1", worker
        assert worker["output"]["outputVariables"]["Steps"] == str(parameters.get("steps", 1)), worker
        assert worker["output"]["executionResult"]["externalExecutionSummary"] == "counted 1 files", worker


def job_s3(job):
    """An S3 client as a job worker makes one: with the job's artifactCredentials."""
    credentials = job["data"]["artifactCredentials"]
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=credentials["accessKeyId"],
        aws_secret_access_key=credentials["secretAccessKey"],
        aws_session_token=credentials["sessionToken"],
        config=botocore.config.Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )


def s3_error(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    raise AssertionError("expected an S3 error")


def artifacts_reach_only_the_jobs_own(job):
    """A job's artifactCredentials read its input artifact, and nothing else: no write to it,
    no other object, and a forged secret is refused."""
    s3 = job_s3(job)
    source = job["data"]["inputArtifacts"][0]["location"]["s3Location"]
    bucket, key = source["bucketName"], source["objectKey"]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read()[:2] == b"PK", "the input artifact is a zip"
    assert s3_error(s3.put_object, Bucket=bucket, Key=key, Body=b"tampered") == "AccessDenied"
    assert s3_error(s3.get_object, Bucket=bucket, Key=key + "-other") == "AccessDenied"
    forged = dict(job, data=dict(job["data"], artifactCredentials=dict(
        job["data"]["artifactCredentials"], secretAccessKey="0" * 64)))
    assert s3_error(job_s3(forged).get_object, Bucket=bucket, Key=key) == "SignatureDoesNotMatch"


def custom_action_workers():
    """A custom action type, and two job workers racing for its job: PollForJobs →
    AcknowledgeJob (the second gets InvalidNonceException) → PutJobSuccessResult, whose
    output variables feed the next action."""
    type_id = {"category": "Build", "owner": "Custom", "provider": "PipewrightBuild", "version": "1"}
    created = client.create_custom_action_type(
        category="Build", provider="PipewrightBuild", version="1",
        settings={"entityUrlTemplate": "https://builds.example.test/"},
        configurationProperties=[{"name": "Target", "required": True, "key": True, "secret": False,
                                  "queryable": True, "type": "String"}],
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
    )
    assert created["actionType"]["id"] == type_id, created
    declaration = commands_pipeline("custom", [])
    declaration["stages"] += [
        {"name": "Build", "actions": [{
            "name": "External", "namespace": "Ext", "actionTypeId": type_id,
            "configuration": {"Target": "prod"}, "inputArtifacts": [{"name": "Code"}]}]},
        {"name": "Use", "actions": [{
            "name": "Check",
            "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": ['test "#{Ext.Answer}" = 42'], "inputArtifacts": [{"name": "Code"}]}]},
    ]
    create_pipeline(pipeline=declaration)
    execution_id = client.start_pipeline_execution(name="custom")["pipelineExecutionId"]

    def poll(query):
        return client.poll_for_jobs(actionTypeId=type_id, maxBatchSize=5, queryParam=query)["jobs"]

    jobs_a = wait_for("a job to poll", lambda: poll({"Target": "prod"}))
    assert poll({"Target": "staging"}) == [], "the query selects by configuration"
    jobs_b = poll({"Target": "prod"})
    assert [j["id"] for j in jobs_a] == [j["id"] for j in jobs_b], "both workers saw the job before either took it"
    job = jobs_a[0]
    assert job["data"]["actionConfiguration"]["configuration"]["Target"] == "prod", job
    assert job["data"]["pipelineContext"]["pipelineExecutionId"] == execution_id, job
    assert job["data"]["inputArtifacts"][0]["name"] == "Code", job
    artifacts_reach_only_the_jobs_own(job)
    assert error_code(client.acknowledge_job, jobId=job["id"], nonce="forged") == "InvalidNonceException"
    assert client.acknowledge_job(jobId=job["id"], nonce=job["nonce"])["status"] == "InProgress"
    assert error_code(client.acknowledge_job, jobId=job["id"], nonce=jobs_b[0]["nonce"]) == "InvalidNonceException"
    assert poll({"Target": "prod"}) == [], "an acknowledged job is polled no more"
    client.put_job_success_result(
        jobId=job["id"], outputVariables={"Answer": "42"},
        executionDetails={"summary": "built by the external system", "externalExecutionId": "ext-1"},
    )
    wait_for("Succeeded", lambda: execution_status("custom", execution_id) == "Succeeded")
    external = action_state("custom", "Build", "External")["latestExecution"]
    assert external["summary"] == "built by the external system", external
    assert error_code(client.put_job_failure_result, jobId=job["id"],
                      failureDetails={"type": "JobFailed", "message": "late"}) == "InvalidJobStateException"
    # The job ended: its credentials reach nothing any more.
    with_job_credentials = job_s3(job)
    source = job["data"]["inputArtifacts"][0]["location"]["s3Location"]
    assert s3_error(with_job_credentials.get_object, Bucket=source["bucketName"], Key=source["objectKey"]) == "InvalidToken"
    client.delete_custom_action_type(category="Build", provider="PipewrightBuild", version="1")
    assert error_code(client.poll_for_jobs, actionTypeId=type_id) == "ActionTypeNotFoundException"


def large_outputs_stream_through_the_s3_endpoint():
    """A job worker uploads an output artifact of 3 MiB, three times the API's body limit,
    with its artifactCredentials; the next action unzips it whole. Before that, the same
    upload signed for one body and sent with another is refused, and leaves no object."""
    import hashlib
    import io
    import zipfile
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    type_id = {"category": "Build", "owner": "Custom", "provider": "PipewrightUpload", "version": "1"}
    client.create_custom_action_type(
        category="Build", provider="PipewrightUpload", version="1",
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
    )
    declaration = commands_pipeline("uploads", [])
    declaration["stages"] += [
        {"name": "Build", "actions": [{
            "name": "External", "actionTypeId": type_id, "inputArtifacts": [{"name": "Code"}],
            "outputArtifacts": [{"name": "Big"}]}]},
        {"name": "Use", "actions": [{
            "name": "Check",
            "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": ["test $(wc -c < big.bin) -eq 3145728", "sha256sum big.bin > digest.txt",
                         "cat digest.txt"],
            "inputArtifacts": [{"name": "Big"}]}]},
    ]
    create_pipeline(pipeline=declaration)
    execution_id = client.start_pipeline_execution(name="uploads")["pipelineExecutionId"]
    job = wait_for("a job to poll", lambda: client.poll_for_jobs(actionTypeId=type_id)["jobs"])[0]
    client.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
    target = job["data"]["outputArtifacts"][0]["location"]["s3Location"]
    bucket, key = target["bucketName"], target["objectKey"]
    payload = os.urandom(3 * 1024 * 1024)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        zipped.writestr("big.bin", payload)
    body = archive.getvalue()
    assert len(body) > 1024 * 1024 * 2, "well past the API's 1 MiB"

    # Signed for this body, sent with another of the same length.
    credentials = job["data"]["artifactCredentials"]
    url = f"{ENDPOINT}/{bucket}/{key}"
    request = AWSRequest(method="PUT", url=url, data=body, headers={
        "x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    S3SigV4Auth(Credentials(credentials["accessKeyId"], credentials["secretAccessKey"],
                            credentials["sessionToken"]), "s3", "us-east-1").add_auth(request)
    swapped = bytes(len(body))
    put = urllib.request.Request(url, data=swapped, method="PUT", headers=dict(request.headers.items()))
    try:
        urllib.request.urlopen(put)
        raise AssertionError("a body the signature does not cover was taken")
    except urllib.error.HTTPError as error:
        answer = error.read().decode()
        assert error.code == 400 and "XAmzContentSHA256Mismatch" in answer, (error.code, answer)
    s3 = job_s3(job)
    assert s3_error(s3.get_object, Bucket=bucket, Key=key) == "NoSuchKey", "nothing of the refused upload stays"

    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["ContentLength"] == len(body) and got["ETag"] == etag, got
    assert got["Body"].read() == body, "the object reads back as it was written"
    client.put_job_success_result(jobId=job["id"])
    wait_for("Succeeded", lambda: execution_status("uploads", execution_id) == "Succeeded")


def rule(name, provider, configuration=None, commands=None):
    declared = {"name": name, "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"}}
    if configuration:
        declared["configuration"] = configuration
    if commands:
        declared["commands"] = commands
        declared["inputArtifacts"] = [{"name": "Code"}]
    return declared


def gated_pipeline(name, gate_file, ship_commands):
    """Source, then Deploy: an entry condition whose Commands rule needs `gate_file`, and a
    success condition on a deployment window that does not open before 2199."""
    declaration = commands_pipeline(name, [("Deploy", [("Ship", ship_commands)])])
    deploy = declaration["stages"][1]
    deploy["beforeEntry"] = {"conditions": [{"result": "FAIL", "rules": [rule("Gate", "Commands", commands=[f"test -f {gate_file}"])]}]}
    deploy["onSuccess"] = {"conditions": [{"result": "FAIL", "rules": [rule("Window", "DeploymentWindow", {"Cron": "* * * * * ? 2199"})]}]}
    return declaration


def conditions_gate_and_override():
    """An entry condition's rule fails the stage; a retry checks it again; a deployment window
    holds the stage until OverrideStageCondition releases it. Every exception the model lists
    for OverrideStageCondition, but ConcurrentPipelineExecutionsLimitExceededException, which an
    override cannot cause (it starts nothing): docs/conditions.md."""
    types = client.list_rule_types(ruleOwnerFilter="AWS")["ruleTypes"]
    providers = sorted(t["id"]["provider"] for t in types)
    assert providers == ["CloudWatchAlarm", "Commands", "DeploymentWindow", "LambdaInvoke", "VariableCheck"], providers
    window_type = next(t for t in types if t["id"]["provider"] == "DeploymentWindow")
    assert {p["name"] for p in window_type["ruleConfigurationProperties"]} == {"Cron", "TimeZone"}, window_type
    assert error_code(client.list_rule_types, ruleOwnerFilter="Nobody") == "ValidationException"

    flag = os.path.join(WORKDIR, "gate-open")
    client.create_pipeline(pipeline=gated_pipeline("gated", flag, ["sleep 2"]))
    first = client.start_pipeline_execution(name="gated")["pipelineExecutionId"]
    wait_for("the gate to fail it", lambda: execution_status("gated", first) == "Failed")
    entry = stage_state("gated", "Deploy")["beforeEntryConditionState"]
    assert entry["latestExecution"]["status"] == "Failed", entry
    gate = entry["conditionStates"][0]["ruleStates"][0]
    assert gate["ruleName"] == "Gate" and gate["latestExecution"]["status"] == "Failed", gate
    assert "Ship" not in [a["actionName"] for a in stage_state("gated", "Deploy")["actionStates"] if a.get("latestExecution")]
    runs = client.list_rule_executions(pipelineName="gated", filter={"pipelineExecutionId": first})["ruleExecutionDetails"]
    assert [(r["ruleName"], r["status"]) for r in runs] == [("Gate", "Failed")], runs
    assert runs[0]["input"]["ruleTypeId"]["provider"] == "Commands", runs[0]
    assert runs[0]["output"]["executionResult"]["errorDetails"]["message"], runs[0]

    open(flag, "w").close()
    client.retry_stage_execution(pipelineName="gated", stageName="Deploy", pipelineExecutionId=first, retryMode="FAILED_ACTIONS")

    def held():
        state = stage_state("gated", "Deploy").get("onSuccessConditionState", {})
        return state.get("latestExecution", {}).get("status") == "InProgress" and state
    held_state = wait_for("the window to hold the stage", held)
    window = held_state["conditionStates"][0]["ruleStates"][0]["latestExecution"]
    assert window["status"] == "InProgress" and "2199" in window["summary"], window
    assert stage_state("gated", "Deploy")["latestExecution"]["status"] == "InProgress"

    def override(**kwargs):
        arguments = {"pipelineName": "gated", "stageName": "Deploy", "pipelineExecutionId": first, "conditionType": "ON_SUCCESS"}
        arguments.update(kwargs)
        return client.override_stage_condition(**arguments)
    bogus = "00000000-0000-4000-8000-000000000000"
    assert error_code(override, conditionType="BEFORE_ENTRY") == "ConditionNotOverridableException", "already met"
    assert error_code(override, stageName="Nope") == "StageNotFoundException"
    assert error_code(override, pipelineName="nope") == "PipelineNotFoundException"
    assert error_code(override, conditionType="ON_FAILURE") == "ValidationException"
    assert error_code(override, pipelineExecutionId=bogus) == "ValidationException"
    override()
    try:
        override()  # a repeat while the execution runs changes nothing...
    except client.exceptions.ConditionNotOverridableException:
        pass  # ...and once the released execution has ended, it is refused
    wait_for("the override to let it succeed", lambda: execution_status("gated", first) == "Succeeded")
    released = stage_state("gated", "Deploy")["onSuccessConditionState"]["latestExecution"]
    assert released["status"] == "Overridden", released
    runs = client.list_rule_executions(pipelineName="gated", filter={"pipelineExecutionId": first})["ruleExecutionDetails"]
    assert sorted((r["ruleName"], r["status"]) for r in runs) == [
        ("Gate", "Failed"), ("Gate", "Succeeded"), ("Window", "Abandoned")], runs
    latest = client.list_rule_executions(
        pipelineName="gated", filter={"latestInPipelineExecution": {"pipelineExecutionId": first, "startTimeRange": "Latest"}}
    )["ruleExecutionDetails"]
    assert sorted(r["ruleName"] for r in latest) == ["Gate", "Window"], latest
    page = client.list_rule_executions(pipelineName="gated", maxResults=1)
    assert len(page["ruleExecutionDetails"]) == 1 and page["nextToken"], page
    assert error_code(client.list_rule_executions, pipelineName="gated", nextToken="forged") == "InvalidNextTokenException"
    assert error_code(client.list_rule_executions, pipelineName="nope") == "PipelineNotFoundException"
    assert error_code(client.list_rule_executions, pipelineName="gated", filter={"pipelineExecutionId": bogus}) == \
        "PipelineExecutionNotFoundException"
    assert error_code(client.list_rule_executions, pipelineName="gated", maxResults=1000) == "ValidationException"
    # The window is no longer being evaluated.
    assert error_code(override) == "ConditionNotOverridableException"

    # A second execution held by the window: the first is no longer the latest in Deploy.
    second = client.start_pipeline_execution(name="gated")["pipelineExecutionId"]
    wait_for("the second to be held", held)
    assert error_code(override) == "NotLatestPipelineExecutionException"
    # Stopping (and waiting for the window's evaluation to end) makes the pipeline busy.
    client.stop_pipeline_execution(pipelineName="gated", pipelineExecutionId=second, abandon=False)
    wait_for("the stop", lambda: execution_status("gated", second) in ("Stopping", "Stopped"))


def conditions_busy_while_stopping():
    """OverrideStageCondition of an execution that is stopping: ConflictException."""
    flag = os.path.join(WORKDIR, "gate-open-too")
    open(flag, "w").close()
    create_pipeline(pipeline=gated_pipeline("busy", flag, ["sleep 30"]))
    execution_id = client.start_pipeline_execution(name="busy")["pipelineExecutionId"]
    wait_for("Ship to run", lambda: action_state("busy", "Deploy", "Ship").get("latestExecution", {}).get("status") == "InProgress")
    client.stop_pipeline_execution(pipelineName="busy", pipelineExecutionId=execution_id, abandon=False)
    assert execution_status("busy", execution_id) == "Stopping"
    assert error_code(
        client.override_stage_condition, pipelineName="busy", stageName="Deploy",
        pipelineExecutionId=execution_id, conditionType="ON_SUCCESS",
    ) == "ConflictException"
    client.stop_pipeline_execution(pipelineName="busy", pipelineExecutionId=execution_id, abandon=True)
    wait_for("Stopped", lambda: execution_status("busy", execution_id) == "Stopped")


def rollback_started(name):
    summaries = client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
    return any(s["executionType"] == "ROLLBACK" for s in summaries)


def rollback_restores_the_last_good_release():
    """A failed deploy rolls back on its own to the artifacts of the last success; RollbackStage
    does it on request. Every exception the model lists for RollbackStage."""
    source = os.path.join(WORKDIR, "src", "app.txt")
    live = os.path.join(WORKDIR, "live.txt")
    declaration = commands_pipeline("release", [("Deploy", [("Install", [
        f"cp app.txt {live}", "sleep 1", "if grep -q broken app.txt; then exit 1; fi"])])], mode="QUEUED")
    declaration["stages"][1]["onFailure"] = {"result": "ROLLBACK"}
    client.create_pipeline(pipeline=declaration)
    good = client.start_pipeline_execution(name="release")["pipelineExecutionId"]
    wait_for("the first release", lambda: execution_status("release", good) == "Succeeded")
    assert open(live).read() == "v1\n"

    with open(source, "w") as f:
        f.write("v2 broken\n")
    bad = client.start_pipeline_execution(name="release")["pipelineExecutionId"]
    wait_for("the broken release to fail", lambda: execution_status("release", bad) == "Failed")
    assert "broken" in open(live).read() or rollback_started("release"), "the broken release was installed"

    def rollback():
        summaries = client.list_pipeline_executions(pipelineName="release")["pipelineExecutionSummaries"]
        return next((s for s in summaries if s["executionType"] == "ROLLBACK"), None)
    automatic = wait_for("the automatic rollback", rollback)
    assert automatic["trigger"]["triggerType"] == "AutomatedRollback", automatic
    assert automatic["rollbackMetadata"]["rollbackTargetPipelineExecutionId"] == good, automatic
    wait_for("the rollback to finish", lambda: execution_status("release", automatic["pipelineExecutionId"]) == "Succeeded")
    assert open(live).read() == "v1\n", "the rollback installed the last good release again"
    deploy = stage_state("release", "Deploy")["latestExecution"]
    assert deploy["type"] == "ROLLBACK" and deploy["status"] == "Succeeded", deploy

    manual = client.rollback_stage(pipelineName="release", stageName="Deploy", targetPipelineExecutionId=good)
    manual_id = manual["pipelineExecutionId"]
    execution = client.get_pipeline_execution(pipelineName="release", pipelineExecutionId=manual_id)["pipelineExecution"]
    assert execution["executionType"] == "ROLLBACK", execution
    assert execution["trigger"]["triggerType"] == "ManualRollback", execution
    assert execution["rollbackMetadata"]["rollbackTargetPipelineExecutionId"] == good, execution

    def roll(**kwargs):
        arguments = {"pipelineName": "release", "stageName": "Deploy", "targetPipelineExecutionId": good}
        arguments.update(kwargs)
        return client.rollback_stage(**arguments)
    # While that rollback runs, another is refused: the pipeline is busy.
    if execution_status("release", manual_id) == "InProgress":
        code = error_code(roll)
        assert code == "ConflictException", code
    wait_for("the manual rollback", lambda: execution_status("release", manual_id) == "Succeeded")
    assert error_code(roll, stageName="Source") == "UnableToRollbackStageException"
    assert error_code(roll, targetPipelineExecutionId=bad) == "UnableToRollbackStageException"
    assert error_code(roll, targetPipelineExecutionId="00000000-0000-4000-8000-000000000000") == \
        "PipelineExecutionNotFoundException"
    assert error_code(roll, stageName="Nope") == "StageNotFoundException"
    assert error_code(roll, pipelineName="nope") == "PipelineNotFoundException"
    assert error_code(roll, targetPipelineExecutionId="not-an-id") == "ValidationException"
    # A new version of the pipeline: the old execution is outdated as a target.
    updated = client.get_pipeline(name="release")["pipeline"]
    updated["stages"][1]["actions"][0]["commands"].append("true")
    client.update_pipeline(pipeline=updated)
    assert error_code(roll) == "PipelineExecutionOutdatedException"


def workers_sign_with_their_action_types_key():
    """A custom action's worker polls, and polling hands out any waiting job of the type it
    names: it signs with its action type's key (`pipewright worker-key`, in WORKDIR), which
    polls, acknowledges and completes that type's jobs, and is refused another type's jobs
    and the pipeline's state (where an approval's token is)."""
    with open(os.path.join(WORKDIR, "worker-key.json")) as file:
        key = json.load(file)
    with open(os.path.join(WORKDIR, "api-key.json")) as file:
        api_key = json.load(file)
    global client  # the helpers' client: this server takes its own API key
    client = boto3.client(
        "codepipeline", endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=api_key["AccessKeyId"], aws_secret_access_key=api_key["SecretAccessKey"],
    )
    type_id = key["ActionTypeId"]
    other_id = dict(type_id, provider="SomeoneElse")
    worker = boto3.client(
        "codepipeline", endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
    )
    for provider in (type_id["provider"], other_id["provider"]):
        client.create_custom_action_type(
            category=type_id["category"], provider=provider, version=type_id["version"],
            inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
            outputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
        )
    declaration = commands_pipeline("farm", [])
    declaration["stages"].append({"name": "Build", "actions": [
        {"name": name, "actionTypeId": action_type, "inputArtifacts": [{"name": "Code"}]}
        for name, action_type in (("Mine", type_id), ("Theirs", other_id))
    ]})
    create_pipeline(pipeline=declaration)
    execution_id = client.start_pipeline_execution(name="farm")["pipelineExecutionId"]

    jobs = wait_for("the worker's job", lambda: worker.poll_for_jobs(actionTypeId=type_id, maxBatchSize=5)["jobs"])
    assert [j["data"]["pipelineContext"]["action"]["name"] for j in jobs] == ["Mine"], jobs
    theirs = wait_for("the other type's job", lambda: client.poll_for_jobs(actionTypeId=other_id)["jobs"])[0]
    refused = [
        (worker.poll_for_jobs, {"actionTypeId": other_id}),
        (worker.acknowledge_job, {"jobId": theirs["id"], "nonce": theirs["nonce"]}),
        (worker.get_job_details, {"jobId": theirs["id"]}),
        (worker.put_job_success_result, {"jobId": theirs["id"]}),
        (worker.put_job_failure_result, {"jobId": theirs["id"], "failureDetails": {"type": "JobFailed", "message": "x"}}),
        (worker.get_pipeline_state, {"name": "farm"}),
        (worker.list_pipelines, {}),
        (worker.delete_custom_action_type, {"category": "Build", "provider": type_id["provider"], "version": "1"}),
    ]
    for call, kwargs in refused:
        assert error_code(call, **kwargs) == "AccessDeniedException", call.__name__
    forged = boto3.client(
        "codepipeline", endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key="0" * 64,
    )
    assert error_code(forged.poll_for_jobs, actionTypeId=type_id) == "InvalidSignatureException"
    # Artifacts: the job's artifactCredentials reach its own; the worker's key, none.
    job = jobs[0]
    artifacts_reach_only_the_jobs_own(job)
    source = job["data"]["inputArtifacts"][0]["location"]["s3Location"]
    worker_s3 = boto3.client(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
        config=botocore.config.Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )
    assert s3_error(worker_s3.get_object, Bucket=source["bucketName"], Key=source["objectKey"]) == "AccessDenied"

    assert worker.acknowledge_job(jobId=job["id"], nonce=job["nonce"])["status"] == "InProgress"
    assert worker.get_job_details(jobId=job["id"])["jobDetails"]["id"] == job["id"]
    worker.put_job_success_result(jobId=job["id"], executionDetails={"summary": "built by the farm"})
    client.acknowledge_job(jobId=theirs["id"], nonce=theirs["nonce"])
    client.put_job_success_result(jobId=theirs["id"])
    wait_for("Succeeded", lambda: execution_status("farm", execution_id) == "Succeeded")
    assert action_state("farm", "Build", "Mine")["latestExecution"]["summary"] == "built by the farm"


SCENARIOS = {
    "custom_action_workers": custom_action_workers,
    "workers_sign_with_their_action_types_key": workers_sign_with_their_action_types_key,
    "large_outputs_stream_through_the_s3_endpoint": large_outputs_stream_through_the_s3_endpoint,
    "lambda_job_worker": lambda_job_worker,
    "authentication": authentication,
    "approval_to_success": approval_to_success,
    "retry_after_fix": retry_after_fix,
    "stop_and_abandon": stop_and_abandon,
    "transition_hold": transition_hold,
    "errors_and_bad_input": errors_and_bad_input,
    "start_is_idempotent_by_client_request_token": start_is_idempotent_by_client_request_token,
    "conditions_gate_and_override": conditions_gate_and_override,
    "conditions_busy_while_stopping": conditions_busy_while_stopping,
    "rollback_restores_the_last_good_release": rollback_restores_the_last_good_release,
}

if __name__ == "__main__":
    SCENARIOS[SCENARIO]()
    print(f"ok {SCENARIO}")
