"""Every error botocore's model lists for each CodePipeline operation, provoked through boto3
against `pipewright serve`: a case per (operation, error), or a reason why Pipewright never
answers it. The scenario first checks that the two together cover the model exactly, then
runs every case and reports each one whose answer differs.

Run by crates/cli/tests/api_clients.rs:  python boto3_errors.py ENDPOINT every_error WORKDIR
"""

import sys
import uuid

import boto3
import botocore.config
from boto3_scenarios import client, commands_pipeline, error_code, wait_for

ENDPOINT = sys.argv[1]

# Sends what botocore's own checks would stop, so that the server's checks are what answer.
raw = boto3.client(
    "codepipeline",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    aws_access_key_id="AKIDPIPEWRIGHTTEST",
    aws_secret_access_key="secret",
    config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}),
)

NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"
PIPELINE = "errors"
APPROVAL_PIPELINE = "errors-approval"
CUSTOM_TYPE = {"category": "Build", "owner": "Custom", "provider": "ErrorsBuild", "version": "1"}
PARTNER_TYPE = {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}
SNYK = {"category": "Invoke", "owner": "ThirdParty", "provider": "Snyk", "version": "1"}
CLIENT_TOKEN = "the-partners-token"

# Pairs Pipewright never answers, and why.
NEVER = {
    **{
        (operation, "ConcurrentModificationException"): "every write is one conditional transaction; a lost race "
        "answers the error of the state the winner left (e.g. PipelineNameInUseException), never a retry-me"
        for operation in [
            "CreateCustomActionType", "CreatePipeline", "DeleteCustomActionType", "DeletePipeline", "DeleteWebhook",
            "PutWebhook", "TagResource", "UntagResource",
        ]
    },
    ("ListRuleTypes", "InvalidNextTokenException"): "ListRuleTypes takes no nextToken (the model lists the error "
    "all the same)",
    ("StartPipelineExecution", "ConflictException"): "a clientRequestToken is scoped to its pipeline (the execution "
    "id derives from both), so a token used again answers its first execution; no other start is refused as busy",
    ("StopPipelineExecution", "ConflictException"): "a stop is refused only as DuplicatedStopRequestException or "
    "PipelineExecutionNotStoppableException: no other state of an execution is busy for a stop",
    ("RollbackStage", "ConflictException"): "a rollback while another rollback of the stage runs: "
    "crates/core/src/engine/tests/conditions.rs provokes it with the engine's timing under control",
    **{
        (operation, "ConcurrentPipelineExecutionsLimitExceededException"): "50 executions running at once: the "
        "rule is the engine's (crates/core/src/engine/tests/modes.rs, which provokes it for every mode); "
        "provoking it here would start 50 worker processes"
        for operation in ["StartPipelineExecution", "RetryStageExecution", "OverrideStageCondition", "PutActionRevision"]
    },
    ("CreatePipeline", "LimitExceededException"): "1000 pipelines per account: the count is checked in "
    "crates/api/src/pipelines.rs; creating 1000 here would be slow",
    ("PutWebhook", "LimitExceededException"): "300 webhooks per account (crates/api/src/webhooks.rs)",
    ("UpdatePipeline", "LimitExceededException"): "an update adds no pipeline; the quotas within a declaration "
    "(50 stages, 50 actions a stage, 500 actions) are reported as the declaration errors validation finds",
    ("OverrideStageCondition", "NotLatestPipelineExecutionException"): "needs a newer execution through the "
    "stage while an older one is held: the engine's rule, crates/core/src/engine/tests",
    ("RetryStageExecution", "NotLatestPipelineExecutionException"): "boto3 scenario retry_after_fix and "
    "crates/core/src/engine/tests provoke it with a second execution",
    ("RollbackStage", "PipelineExecutionOutdatedException"): "a target older than the stage's rollback window: "
    "crates/core/src/engine/tests (rollback)",
}


def expect(operation, error):
    """Registers a case: a function that makes the call which must answer `error`."""

    def register(call):
        CASES[(operation, error)] = call
        return call

    return register


CASES = {}


def code(call, **kwargs):
    return error_code(call, **kwargs)


# --- the fixtures -------------------------------------------------------------------------

def approval_pipeline():
    declaration = commands_pipeline(APPROVAL_PIPELINE, [])
    declaration["stages"].append({"name": "Approve", "actions": [{
        "name": "Gate", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
    }]})
    return declaration


def custom_pipeline():
    # PARALLEL: two executions, two jobs at once (one to finish, one kept in progress).
    declaration = commands_pipeline("errors-custom", [], mode="PARALLEL")
    declaration["stages"].append({"name": "Build", "actions": [{
        "name": "External", "actionTypeId": CUSTOM_TYPE, "inputArtifacts": [{"name": "Code"}],
    }]})
    return declaration


def partner_pipeline():
    declaration = commands_pipeline("errors-partner", [], mode="PARALLEL")
    declaration["stages"].append({"name": "Scan", "actions": [{
        "name": "Snyk", "actionTypeId": SNYK, "inputArtifacts": [{"name": "Code"}], "outputArtifacts": [{"name": "Scanned"}],
    }]})
    return declaration


FIXTURES = {}


def set_up():
    client.create_pipeline(pipeline=commands_pipeline(PIPELINE, [("Build", [("Fail", ["false"])])]))
    client.create_pipeline(pipeline=approval_pipeline())
    client.create_custom_action_type(
        category="Build", provider="ErrorsBuild", version="1",
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
    )
    client.create_pipeline(pipeline=custom_pipeline())
    first = client.list_pipeline_executions(pipelineName=PIPELINE)["pipelineExecutionSummaries"][0]
    FIXTURES["execution"] = first["pipelineExecutionId"]
    wait_for("the failed build", lambda: client.get_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=FIXTURES["execution"])["pipelineExecution"]["status"] == "Failed")

    def approval_token():
        state = client.get_pipeline_state(name=APPROVAL_PIPELINE)["stageStates"]
        latest = next(s for s in state if s["stageName"] == "Approve")["actionStates"][0].get("latestExecution", {})
        return latest.get("status") == "InProgress" and latest.get("token")

    FIXTURES["token"] = wait_for("the approval", approval_token)
    client.start_pipeline_execution(name="errors-custom")
    jobs = wait_for("two custom jobs", lambda: (lambda j: len(j) == 2 and j)(
        client.poll_for_jobs(actionTypeId=CUSTOM_TYPE, maxBatchSize=5)["jobs"]))
    FIXTURES["job"], done = jobs
    client.acknowledge_job(jobId=done["id"], nonce=done["nonce"])
    client.put_job_success_result(jobId=done["id"])
    FIXTURES["done_job"] = done["id"]
    # Two partner jobs: one finished, one in progress; the first call binds the client token.
    client.create_pipeline(pipeline=partner_pipeline())
    client.start_pipeline_execution(name="errors-partner")
    partner = wait_for("two partner jobs", lambda: (lambda j: len(j) == 2 and j)(
        client.poll_for_third_party_jobs(actionTypeId=SNYK, maxBatchSize=5)["jobs"]))
    FIXTURES["partner_job"], finished = partner[0]["jobId"], partner[1]["jobId"]
    client.get_third_party_job_details(jobId=finished, clientToken=CLIENT_TOKEN)
    client.put_third_party_job_success_result(jobId=finished, clientToken=CLIENT_TOKEN)
    FIXTURES["partner_done"] = finished
    # An action that runs long: stopped, then stopped again, while it runs.
    sleeping = commands_pipeline("errors-sleep", [("Work", [("Sleep", ["sleep 120"])])])
    sleeping["stages"][1]["onSuccess"] = {"conditions": [{"result": "FAIL", "rules": [{
        "name": "Window", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1"},
        "configuration": {"Cron": "* * * * * ? 2199"}}]}]}
    client.create_pipeline(pipeline=sleeping)
    FIXTURES["sleeping"] = client.list_pipeline_executions(pipelineName="errors-sleep")[
        "pipelineExecutionSummaries"][0]["pipelineExecutionId"]
    wait_for("the long action", lambda: next(
        s for s in client.get_pipeline_state(name="errors-sleep")["stageStates"] if s["stageName"] == "Work"
    )["actionStates"][0].get("latestExecution", {}).get("status") == "InProgress")
    client.stop_pipeline_execution(pipelineName="errors-sleep", pipelineExecutionId=FIXTURES["sleeping"])


def pipeline_arn(name):
    return client.get_pipeline(name=name)["metadata"]["pipelineArn"]


# --- ValidationException: each operation, given a member the model refuses -----------------

VALIDATION = {
    "AcknowledgeJob": dict(jobId="not-a-uuid", nonce="1"),
    "AcknowledgeThirdPartyJob": dict(jobId="x" * 600, nonce="1", clientToken="t"),
    "CreateCustomActionType": dict(category="Build", provider="bad provider!", version="1",
                                   inputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
                                   outputArtifactDetails={"minimumCount": 0, "maximumCount": 0}),
    "CreatePipeline": dict(pipeline=commands_pipeline("bad name!", [("Build", [("B", ["true"])])])),
    "DeleteCustomActionType": dict(category="Nope", provider="p", version="1"),
    "DeletePipeline": dict(name="bad name!"),
    "DeleteWebhook": dict(name="bad name!"),
    "DeregisterWebhookWithThirdParty": dict(webhookName="bad name!"),
    "DisableStageTransition": dict(pipelineName=PIPELINE, stageName="Build", transitionType="Sideways", reason="r"),
    "EnableStageTransition": dict(pipelineName=PIPELINE, stageName="Build", transitionType="Sideways"),
    "GetActionType": dict(category="Nope", owner="AWS", provider="S3", version="1"),
    "GetJobDetails": dict(jobId="not-a-uuid"),
    "GetPipeline": dict(name="bad name!"),
    "GetPipelineExecution": dict(pipelineName=PIPELINE, pipelineExecutionId="not-a-uuid"),
    "GetPipelineState": dict(name="bad name!"),
    "GetThirdPartyJobDetails": dict(jobId="x" * 600, clientToken="t"),
    "ListActionExecutions": dict(pipelineName=PIPELINE, maxResults=0),
    "ListActionTypes": dict(actionOwnerFilter="Nobody"),
    "ListDeployActionExecutionTargets": dict(pipelineName=PIPELINE, actionExecutionId="a", maxResults=0),
    "ListPipelineExecutions": dict(pipelineName=PIPELINE, maxResults=0),
    "ListPipelines": dict(maxResults=0),
    "ListRuleExecutions": dict(pipelineName=PIPELINE, maxResults=0),
    "ListRuleTypes": dict(ruleOwnerFilter="Nobody"),
    "ListTagsForResource": dict(resourceArn=f"arn:aws:codepipeline:us-east-1:000000000000:{PIPELINE}", maxResults=0),
    "ListWebhooks": dict(MaxResults=0),
    "OverrideStageCondition": dict(pipelineName=PIPELINE, stageName="Build", pipelineExecutionId=NO_SUCH_ID,
                                   conditionType="SOMETIME"),
    "PollForJobs": dict(actionTypeId=CUSTOM_TYPE, maxBatchSize=0),
    "PollForThirdPartyJobs": dict(actionTypeId=PARTNER_TYPE, maxBatchSize=0),
    "PutActionRevision": dict(pipelineName=PIPELINE, stageName="Source", actionName="Src",
                              actionRevision={"revisionId": "", "revisionChangeId": "c", "created": 1}),
    "PutApprovalResult": dict(pipelineName=APPROVAL_PIPELINE, stageName="Approve", actionName="Gate",
                              result={"summary": "s", "status": "Maybe"}, token=NO_SUCH_ID),
    "PutJobFailureResult": dict(jobId=NO_SUCH_ID, failureDetails={"type": "Nope", "message": "m"}),
    "PutJobSuccessResult": dict(jobId="not-a-uuid"),
    "PutThirdPartyJobFailureResult": dict(jobId="x" * 600, clientToken="t",
                                          failureDetails={"type": "JobFailed", "message": "m"}),
    "PutThirdPartyJobSuccessResult": dict(jobId="x" * 600, clientToken="t"),
    "PutWebhook": dict(webhook={"name": "bad name!"}),
    "RegisterWebhookWithThirdParty": dict(webhookName="bad name!"),
    "RetryStageExecution": dict(pipelineName=PIPELINE, stageName="Build", pipelineExecutionId=NO_SUCH_ID,
                                retryMode="SOME_ACTIONS"),
    "RollbackStage": dict(pipelineName=PIPELINE, stageName="Build", targetPipelineExecutionId="not-a-uuid"),
    "StartPipelineExecution": dict(name=PIPELINE, variables=[{"name": "bad name!", "value": "v"}]),
    "StopPipelineExecution": dict(pipelineName=PIPELINE, pipelineExecutionId="not-a-uuid"),
    "TagResource": dict(resourceArn=f"arn:aws:codepipeline:us-east-1:000000000000:{PIPELINE}", tags=[{"key": ""}]),
    "UntagResource": dict(resourceArn=f"arn:aws:codepipeline:us-east-1:000000000000:{PIPELINE}", tagKeys=["k" * 200]),
    "UpdateActionType": dict(actionType={"executor": {}}),
    "UpdatePipeline": dict(pipeline=commands_pipeline("bad name!", [("Build", [("B", ["true"])])])),
}


def snake(operation):
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


for _operation, _input in VALIDATION.items():
    CASES[(_operation, "ValidationException")] = (
        lambda operation=_operation, given=_input: code(getattr(raw, snake(operation)), **given)
    )

# --- not found --------------------------------------------------------------------------------

for _operation, _input in {
    "DisableStageTransition": dict(pipelineName="nope", stageName="Build", transitionType="Inbound", reason="r"),
    "EnableStageTransition": dict(pipelineName="nope", stageName="Build", transitionType="Inbound"),
    "GetPipeline": dict(name="nope"),
    "GetPipelineExecution": dict(pipelineName="nope", pipelineExecutionId=NO_SUCH_ID),
    "GetPipelineState": dict(name="nope"),
    "ListActionExecutions": dict(pipelineName="nope"),
    "ListDeployActionExecutionTargets": dict(pipelineName="nope", actionExecutionId="a"),
    "ListPipelineExecutions": dict(pipelineName="nope"),
    "ListRuleExecutions": dict(pipelineName="nope"),
    "OverrideStageCondition": dict(pipelineName="nope", stageName="Build", pipelineExecutionId=NO_SUCH_ID,
                                   conditionType="BEFORE_ENTRY"),
    "PutActionRevision": dict(pipelineName="nope", stageName="Source", actionName="Src",
                              actionRevision={"revisionId": "r", "revisionChangeId": "c", "created": 1}),
    "PutApprovalResult": dict(pipelineName="nope", stageName="Approve", actionName="Gate",
                              result={"summary": "s", "status": "Approved"}, token=NO_SUCH_ID),
    "PutWebhook": dict(webhook={"name": "hook", "targetPipeline": "nope", "targetAction": "Src",
                                "filters": [{"jsonPath": "$.ref"}], "authentication": "UNAUTHENTICATED",
                                "authenticationConfiguration": {}}),
    "RetryStageExecution": dict(pipelineName="nope", stageName="Build", pipelineExecutionId=NO_SUCH_ID,
                                retryMode="FAILED_ACTIONS"),
    "RollbackStage": dict(pipelineName="nope", stageName="Build", targetPipelineExecutionId=NO_SUCH_ID),
    "StartPipelineExecution": dict(name="nope"),
    "StopPipelineExecution": dict(pipelineName="nope", pipelineExecutionId=NO_SUCH_ID),
}.items():
    CASES[(_operation, "PipelineNotFoundException")] = (
        lambda operation=_operation, given=_input: code(getattr(client, snake(operation)), **given)
    )

for _operation, _input in {
    "DisableStageTransition": dict(pipelineName=PIPELINE, stageName="Nope", transitionType="Inbound", reason="r"),
    "EnableStageTransition": dict(pipelineName=PIPELINE, stageName="Nope", transitionType="Inbound"),
    "OverrideStageCondition": lambda: dict(pipelineName=PIPELINE, stageName="Nope",
                                           pipelineExecutionId=FIXTURES["execution"], conditionType="BEFORE_ENTRY"),
    "PutActionRevision": dict(pipelineName=PIPELINE, stageName="Nope", actionName="Src",
                              actionRevision={"revisionId": "r", "revisionChangeId": "c", "created": 1}),
    "PutApprovalResult": dict(pipelineName=APPROVAL_PIPELINE, stageName="Nope", actionName="Gate",
                              result={"summary": "s", "status": "Approved"}, token=NO_SUCH_ID),
    "RetryStageExecution": lambda: dict(pipelineName=PIPELINE, stageName="Nope",
                                        pipelineExecutionId=FIXTURES["execution"], retryMode="FAILED_ACTIONS"),
    "RollbackStage": lambda: dict(pipelineName=PIPELINE, stageName="Nope",
                                  targetPipelineExecutionId=FIXTURES["execution"]),
}.items():
    CASES[(_operation, "StageNotFoundException")] = (
        lambda operation=_operation, given=_input: code(
            getattr(client, snake(operation)), **(given() if callable(given) else given))
    )

for _operation, _input in {
    "PutActionRevision": dict(pipelineName=PIPELINE, stageName="Source", actionName="Nope",
                              actionRevision={"revisionId": "r", "revisionChangeId": "c", "created": 1}),
    "PutApprovalResult": dict(pipelineName=APPROVAL_PIPELINE, stageName="Approve", actionName="Nope",
                              result={"summary": "s", "status": "Approved"}, token=NO_SUCH_ID),
}.items():
    CASES[(_operation, "ActionNotFoundException")] = (
        lambda operation=_operation, given=_input: code(getattr(client, snake(operation)), **given)
    )

for _operation, _input in {
    "GetPipelineExecution": dict(pipelineName=PIPELINE, pipelineExecutionId=NO_SUCH_ID),
    "ListActionExecutions": dict(pipelineName=PIPELINE, filter={"pipelineExecutionId": NO_SUCH_ID}),
    "ListRuleExecutions": dict(pipelineName=PIPELINE, filter={"pipelineExecutionId": NO_SUCH_ID}),
    "RollbackStage": dict(pipelineName=PIPELINE, stageName="Build", targetPipelineExecutionId=NO_SUCH_ID),
}.items():
    CASES[(_operation, "PipelineExecutionNotFoundException")] = (
        lambda operation=_operation, given=_input: code(getattr(client, snake(operation)), **given)
    )

for _operation, _input in {
    "ListActionExecutions": dict(pipelineName=PIPELINE, nextToken="bogus"),
    "ListActionTypes": dict(nextToken="bogus"),
    "ListDeployActionExecutionTargets": dict(pipelineName=PIPELINE, actionExecutionId="a", nextToken="bogus"),
    "ListPipelineExecutions": dict(pipelineName=PIPELINE, nextToken="bogus"),
    "ListPipelines": dict(nextToken="bogus"),
    "ListRuleExecutions": dict(pipelineName=PIPELINE, nextToken="bogus"),
    "ListTagsForResource": lambda: dict(resourceArn=pipeline_arn(PIPELINE), nextToken="bogus"),
    "ListWebhooks": dict(NextToken="bogus"),
}.items():
    CASES[(_operation, "InvalidNextTokenException")] = (
        lambda operation=_operation, given=_input: code(
            getattr(raw, snake(operation)), **(given() if callable(given) else given))
    )

for _operation, _input in {
    "AcknowledgeJob": dict(jobId=NO_SUCH_ID, nonce="1"),
    "AcknowledgeThirdPartyJob": dict(jobId=NO_SUCH_ID, nonce="1", clientToken="t"),
    "GetJobDetails": dict(jobId=NO_SUCH_ID),
    "GetThirdPartyJobDetails": dict(jobId=NO_SUCH_ID, clientToken="t"),
    "PutJobFailureResult": dict(jobId=NO_SUCH_ID, failureDetails={"type": "JobFailed", "message": "m"}),
    "PutJobSuccessResult": dict(jobId=NO_SUCH_ID),
    "PutThirdPartyJobFailureResult": dict(jobId=NO_SUCH_ID, clientToken="t",
                                          failureDetails={"type": "JobFailed", "message": "m"}),
    "PutThirdPartyJobSuccessResult": dict(jobId=NO_SUCH_ID, clientToken="t"),
}.items():
    CASES[(_operation, "JobNotFoundException")] = (
        lambda operation=_operation, given=_input: code(getattr(client, snake(operation)), **given)
    )

for _operation, _input in {
    "GetActionType": dict(category="Build", owner="AWS", provider="NoSuchProvider", version="1"),
    "PollForJobs": dict(actionTypeId=dict(CUSTOM_TYPE, provider="NoSuchBuild")),
    "PollForThirdPartyJobs": dict(actionTypeId=dict(PARTNER_TYPE, provider="NoSuchPartner")),
    "UpdateActionType": dict(actionType={
        "id": {"category": "Build", "owner": "ThirdParty", "provider": "NoSuchBuild", "version": "1"},
        "executor": {"configuration": {"jobWorkerExecutorConfiguration": {}}, "type": "JobWorker"},
        "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
        "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
    }),
}.items():
    CASES[(_operation, "ActionTypeNotFoundException")] = (
        lambda operation=_operation, given=_input: code(getattr(client, snake(operation)), **given)
    )

# AWS's own action types are not anyone's to update.
CASES[("UpdateActionType", "RequestFailedException")] = lambda: code(client.update_action_type, actionType={
    "id": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
    "executor": {"configuration": {"jobWorkerExecutorConfiguration": {}}, "type": "JobWorker"},
    "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
    "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
})

for _operation in ["DeregisterWebhookWithThirdParty", "RegisterWebhookWithThirdParty"]:
    CASES[(_operation, "WebhookNotFoundException")] = (
        lambda operation=_operation: code(getattr(client, snake(operation)), webhookName="no-such-hook")
    )

# --- declarations and names ---------------------------------------------------------------


def broken(change):
    declaration = commands_pipeline("broken", [("Build", [("B", ["true"])])])
    change(declaration)
    return declaration


def without_stage_actions(d):
    d["stages"][1]["actions"] = []


def without_a_required_key(d):
    del d["stages"][0]["actions"][0]["configuration"]["S3Bucket"]


def with_blocker(d):
    d["stages"][1]["blockers"] = [{"name": "b", "type": "NotAType"}]


def with_one_stage(d):
    d["stages"] = d["stages"][:1]


for _operation in ["CreatePipeline", "UpdatePipeline"]:
    _call = (lambda d: code(client.create_pipeline, pipeline=d)) if _operation == "CreatePipeline" else (
        lambda d: code(client.update_pipeline, pipeline=dict(d, name=PIPELINE)))
    CASES[(_operation, "InvalidStageDeclarationException")] = lambda c=_call: c(broken(without_stage_actions))
    CASES[(_operation, "InvalidActionDeclarationException")] = lambda c=_call: c(broken(without_a_required_key))
    CASES[(_operation, "InvalidBlockerDeclarationException")] = lambda c=_call: c(broken(with_blocker))
    CASES[(_operation, "InvalidStructureException")] = lambda c=_call: c(broken(with_one_stage))

CASES[("CreatePipeline", "PipelineNameInUseException")] = lambda: code(
    client.create_pipeline, pipeline=commands_pipeline(PIPELINE, [("Build", [("B", ["true"])])]))
CASES[("GetPipeline", "PipelineVersionNotFoundException")] = lambda: code(client.get_pipeline, name=PIPELINE, version=99)



def fifty_custom_action_types():
    """The account's 50 custom action types (one exists already), then one more."""
    for i in range(49):
        client.create_custom_action_type(
            category="Test", provider=f"Quota{i}", version="1",
            inputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
            outputArtifactDetails={"minimumCount": 0, "maximumCount": 0})
    return code(client.create_custom_action_type, category="Test", provider="OneTooMany", version="1",
                inputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
                outputArtifactDetails={"minimumCount": 0, "maximumCount": 0})


CASES[("CreateCustomActionType", "LimitExceededException")] = fifty_custom_action_types

# --- tags -------------------------------------------------------------------------------------

TOO_MANY = [{"key": f"k{i}", "value": "v"} for i in range(51)]
AWS_KEY = [{"key": "aws:reserved", "value": "v"}]
CASES[("CreatePipeline", "TooManyTagsException")] = lambda: code(
    client.create_pipeline, pipeline=commands_pipeline("tagged", [("Build", [("B", ["true"])])]), tags=TOO_MANY)
CASES[("CreatePipeline", "InvalidTagsException")] = lambda: code(
    client.create_pipeline, pipeline=commands_pipeline("tagged", [("Build", [("B", ["true"])])]), tags=AWS_KEY)
_custom = dict(category="Build", provider="Tagged", version="1",
               inputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
               outputArtifactDetails={"minimumCount": 0, "maximumCount": 0})
CASES[("CreateCustomActionType", "TooManyTagsException")] = lambda: code(
    client.create_custom_action_type, tags=TOO_MANY, **_custom)
CASES[("CreateCustomActionType", "InvalidTagsException")] = lambda: code(
    client.create_custom_action_type, tags=AWS_KEY, **_custom)
CASES[("TagResource", "TooManyTagsException")] = lambda: code(
    client.tag_resource, resourceArn=pipeline_arn(PIPELINE), tags=TOO_MANY)
CASES[("TagResource", "InvalidTagsException")] = lambda: code(
    client.tag_resource, resourceArn=pipeline_arn(PIPELINE), tags=AWS_KEY)
CASES[("UntagResource", "InvalidTagsException")] = lambda: code(
    client.untag_resource, resourceArn=pipeline_arn(PIPELINE), tagKeys=["aws:reserved"])
_missing_arn = "arn:aws:codepipeline:us-east-1:000000000000:no-such-pipeline"
for _operation, _extra in {"TagResource": dict(tags=[{"key": "k", "value": "v"}]), "UntagResource": dict(tagKeys=["k"]),
                           "ListTagsForResource": {}}.items():
    CASES[(_operation, "ResourceNotFoundException")] = (
        lambda operation=_operation, extra=_extra: code(getattr(client, snake(operation)), resourceArn=_missing_arn, **extra))
    CASES[(_operation, "InvalidArnException")] = (
        lambda operation=_operation, extra=_extra: code(getattr(client, snake(operation)), resourceArn="arn:aws:codepipeline:us-east-1:123456789012:errors", **extra))


def hook(**changes):
    webhook = {"name": "errors-hook", "targetPipeline": PIPELINE, "targetAction": "Src",
               "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/main"}],
               "authentication": "GITHUB_HMAC", "authenticationConfiguration": {"SecretToken": "s"}}
    webhook.update(changes)
    return webhook


CASES[("PutWebhook", "TooManyTagsException")] = lambda: code(client.put_webhook, webhook=hook(), tags=TOO_MANY)
CASES[("PutWebhook", "InvalidTagsException")] = lambda: code(client.put_webhook, webhook=hook(), tags=AWS_KEY)
CASES[("PutWebhook", "InvalidWebhookFilterPatternException")] = lambda: code(
    client.put_webhook, webhook=hook(filters=[{"jsonPath": "not a json path"}]))
CASES[("PutWebhook", "InvalidWebhookAuthenticationParametersException")] = lambda: code(
    client.put_webhook, webhook=hook(authenticationConfiguration={}))

# --- jobs ---------------------------------------------------------------------------------------

CASES[("AcknowledgeJob", "InvalidNonceException")] = lambda: code(
    client.acknowledge_job, jobId=FIXTURES["job"]["id"], nonce="forged")


PARTNER_INPUT = {
    "AcknowledgeThirdPartyJob": lambda job, token: dict(jobId=job, nonce="forged", clientToken=token),
    "GetThirdPartyJobDetails": lambda job, token: dict(jobId=job, clientToken=token),
    "PutThirdPartyJobFailureResult": lambda job, token: dict(jobId=job, clientToken=token,
                                                             failureDetails={"type": "JobFailed", "message": "m"}),
    "PutThirdPartyJobSuccessResult": lambda job, token: dict(jobId=job, clientToken=token),
}
for _operation in PARTNER_INPUT:
    CASES[(_operation, "InvalidClientTokenException")] = lambda operation=_operation: code(
        getattr(client, snake(operation)), **PARTNER_INPUT[operation](FIXTURES["partner_job"], "forged"))
for _operation in ["PutThirdPartyJobFailureResult", "PutThirdPartyJobSuccessResult"]:
    CASES[(_operation, "InvalidJobStateException")] = lambda operation=_operation: code(
        getattr(client, snake(operation)), **PARTNER_INPUT[operation](FIXTURES["partner_done"], CLIENT_TOKEN))
CASES[("AcknowledgeThirdPartyJob", "InvalidNonceException")] = lambda: code(
    client.acknowledge_third_party_job, **PARTNER_INPUT["AcknowledgeThirdPartyJob"](FIXTURES["partner_job"], CLIENT_TOKEN))
# A custom action's job is not a partner's.
CASES[("GetThirdPartyJobDetails", "InvalidJobException")] = lambda: code(
    client.get_third_party_job_details, jobId=FIXTURES["job"]["id"], clientToken=CLIENT_TOKEN)


def custom_job_done(operation, **extra):
    return code(getattr(client, snake(operation)), jobId=FIXTURES["done_job"], **extra)


CASES[("PutJobFailureResult", "InvalidJobStateException")] = lambda: custom_job_done(
    "PutJobFailureResult", failureDetails={"type": "JobFailed", "message": "late"})
CASES[("PutJobSuccessResult", "InvalidJobStateException")] = lambda: custom_job_done("PutJobSuccessResult")
CASES[("PutJobSuccessResult", "OutputVariablesSizeExceededException")] = lambda: code(
    client.put_job_success_result, jobId=FIXTURES["job"]["id"], outputVariables={f"V{i}": "x" * 1000 for i in range(200)})

# --- executions -------------------------------------------------------------------------------

CASES[("PutApprovalResult", "InvalidApprovalTokenException")] = lambda: code(
    client.put_approval_result, pipelineName=APPROVAL_PIPELINE, stageName="Approve", actionName="Gate",
    result={"summary": "s", "status": "Approved"}, token=NO_SUCH_ID)


def approve_twice():
    answer = dict(pipelineName=APPROVAL_PIPELINE, stageName="Approve", actionName="Gate",
                  result={"summary": "s", "status": "Approved"}, token=FIXTURES["token"])
    client.put_approval_result(**answer)
    return code(client.put_approval_result, **answer)


CASES[("PutApprovalResult", "ApprovalAlreadyCompletedException")] = approve_twice
CASES[("StopPipelineExecution", "PipelineExecutionNotStoppableException")] = lambda: code(
    client.stop_pipeline_execution, pipelineName=PIPELINE, pipelineExecutionId=FIXTURES["execution"])
CASES[("StopPipelineExecution", "DuplicatedStopRequestException")] = lambda: code(
    client.stop_pipeline_execution, pipelineName="errors-sleep", pipelineExecutionId=FIXTURES["sleeping"])
CASES[("RetryStageExecution", "ConflictException")] = lambda: code(
    client.retry_stage_execution, pipelineName="errors-sleep", stageName="Work",
    pipelineExecutionId=FIXTURES["sleeping"], retryMode="FAILED_ACTIONS")
CASES[("OverrideStageCondition", "ConflictException")] = lambda: code(
    client.override_stage_condition, pipelineName="errors-sleep", stageName="Work",
    pipelineExecutionId=FIXTURES["sleeping"], conditionType="ON_SUCCESS")


CASES[("RetryStageExecution", "StageNotRetryableException")] = lambda: code(
    client.retry_stage_execution, pipelineName=PIPELINE, stageName="Source",
    pipelineExecutionId=FIXTURES["execution"], retryMode="FAILED_ACTIONS")
CASES[("OverrideStageCondition", "ConditionNotOverridableException")] = lambda: code(
    client.override_stage_condition, pipelineName=PIPELINE, stageName="Build",
    pipelineExecutionId=FIXTURES["execution"], conditionType="BEFORE_ENTRY")
CASES[("RollbackStage", "UnableToRollbackStageException")] = lambda: code(
    client.rollback_stage, pipelineName=PIPELINE, stageName="Build", targetPipelineExecutionId=FIXTURES["execution"])
CASES[("ListDeployActionExecutionTargets", "ActionExecutionNotFoundException")] = lambda: code(
    client.list_deploy_action_execution_targets, pipelineName=PIPELINE, actionExecutionId="nope")


def the_model_pairs():
    model = client.meta.service_model
    return {(op, e.name) for op in model.operation_names for e in model.operation_model(op).error_shapes}


def every_error():
    pairs = the_model_pairs()
    unknown = (set(CASES) | set(NEVER)) - pairs
    assert not unknown, f"cases for pairs the model does not list: {sorted(unknown)}"
    both = set(CASES) & set(NEVER)
    assert not both, f"both a case and a reason: {sorted(both)}"
    missing = pairs - set(CASES) - set(NEVER)
    assert not missing, f"{len(missing)} pairs without a case or a reason: {sorted(missing)}"
    set_up()
    wrong = []
    for (operation, error), call in sorted(CASES.items()):
        try:
            got = call()
        except Exception as failure:  # a case that cannot even be made is a failure too
            got = f"raised {type(failure).__name__}: {failure}"
        if got != error:
            wrong.append(f"{operation}: expected {error}, got {got}")
    # Nothing is left running: the long action, and the jobs no worker will finish.
    for pipeline in client.list_pipelines()["pipelines"]:
        for summary in client.list_pipeline_executions(pipelineName=pipeline["name"])["pipelineExecutionSummaries"]:
            if summary["status"] in ("InProgress", "Stopping"):
                client.stop_pipeline_execution(
                    pipelineName=pipeline["name"], pipelineExecutionId=summary["pipelineExecutionId"], abandon=True)
    assert not wrong, f"{len(wrong)} of {len(CASES)} cases answered otherwise:\n" + "\n".join(wrong)
    print(f"{len(CASES)} cases answered as the model names them; {len(NEVER)} pairs never answered, with reasons")


if __name__ == "__main__":
    {"every_error": every_error}[sys.argv[2]]()
    print("ok every_error")
