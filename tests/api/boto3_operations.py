"""The operations beyond running pipelines, driven with boto3 against `pipewright serve`: tags,
action types, PutActionRevision, the partner job protocol, deploy targets, and the
declaration as CodePipeline answers it.

Run by crates/cli/tests/api_clients.rs:  python boto3_operations.py ENDPOINT SCENARIO WORKDIR
"""

import sys

import boto3
from boto3_scenarios import client, commands_pipeline, error_code, wait_for

SCENARIO = sys.argv[2]


def declaration_as_aws_answers():
    pipeline = commands_pipeline("answered", [("Build", [("Compile", ["true"])])])
    pipeline["stages"].append(
        {
            "name": "Publish",
            "actions": [
                {
                    "name": "Push",
                    "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
                    "configuration": {"Owner": "o", "Repo": "r", "Branch": "main", "OAuthToken": "ghp_secret"},
                    "outputArtifacts": [{"name": "Other"}],
                }
            ],
        }
    )
    # A GitHub source belongs in the first stage: keep the declaration valid by moving it there.
    pipeline["stages"][0]["actions"].append(pipeline["stages"].pop()["actions"][0])
    created = client.create_pipeline(pipeline=pipeline)
    answered = created["pipeline"]
    src = answered["stages"][0]["actions"][0]
    assert src["runOrder"] == 1 and src["inputArtifacts"] == [], src
    github = answered["stages"][0]["actions"][1]
    assert github["configuration"]["OAuthToken"] == "****", github
    assert answered["version"] == 1 and answered["executionMode"] == "SUPERSEDED", answered
    # Every action names the pipelines' region (the server's --region), Source ones included.
    regions = {a["name"]: a.get("region") for s in answered["stages"] for a in s["actions"]}
    assert set(regions.values()) == {"us-east-1"}, regions
    got = client.get_pipeline(name="answered")
    assert got["metadata"]["pipelineArn"] == "arn:aws:codepipeline:us-east-1:000000000000:answered", got["metadata"]
    assert "created" in got["metadata"] and "updated" in got["metadata"], got["metadata"]
    # CreatePipeline started the first execution.
    history = client.list_pipeline_executions(pipelineName="answered")["pipelineExecutionSummaries"]
    assert [h["trigger"]["triggerType"] for h in history] == ["CreatePipeline"], history
    # What GetPipeline answered, sent back (a masked secret, the regions, the defaults), is the
    # same pipeline: the version stays.
    updated = client.update_pipeline(pipeline=got["pipeline"])["pipeline"]
    assert updated["version"] == 1, updated
    assert updated["stages"][0]["actions"][1]["configuration"]["OAuthToken"] == "****"
    # Action executions run in that region too, as the pipeline's ARN says.
    details = wait_for(
        "CreatePipeline's action executions",
        lambda: client.list_action_executions(pipelineName="answered")["actionExecutionDetails"],
    )
    assert {d["input"]["region"] for d in details} == {"us-east-1"}, details
    # A pipeline that names no type is V1 in SUPERSEDED mode, and says so.
    untyped = commands_pipeline("untyped", [("Build", [("Compile", ["true"])])])
    untyped["stages"][1]["actions"][0]["actionTypeId"] = {
        "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"
    }
    del untyped["stages"][1]["actions"][0]["commands"], untyped["stages"][1]["actions"][0]["inputArtifacts"]
    del untyped["pipelineType"], untyped["executionMode"]
    plain = client.create_pipeline(pipeline=untyped)["pipeline"]
    assert (plain["pipelineType"], plain["executionMode"]) == ("V1", "SUPERSEDED"), plain
    client.delete_pipeline(name="untyped")
    # Another region's ARN, from the signing region.
    other = boto3.client(
        "codepipeline",
        endpoint_url=client.meta.endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDPIPEWRIGHTTEST",
        aws_secret_access_key="secret",
    )
    arn = other.get_pipeline(name="answered")["metadata"]["pipelineArn"]
    assert arn == "arn:aws:codepipeline:eu-west-1:000000000000:answered", arn


def tags():
    created = client.create_pipeline(
        pipeline=commands_pipeline("tagged", [("Build", [("Compile", ["true"])])]),
        tags=[{"key": "team", "value": "web"}],
    )
    arn = client.get_pipeline(name="tagged")["metadata"]["pipelineArn"]
    assert created["tags"] == [{"key": "team", "value": "web"}], created
    client.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "prod"}, {"key": "team", "value": "api"}])
    listed = client.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted((t["key"], t["value"]) for t in listed) == [("env", "prod"), ("team", "api")], listed
    client.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "api"}]
    assert error_code(client.tag_resource, resourceArn=arn, tags=[{"key": "aws:x", "value": "y"}]) == "InvalidTagsException"
    many = [{"key": f"k{n}", "value": "v"} for n in range(50)]
    assert error_code(client.tag_resource, resourceArn=arn, tags=many) == "TooManyTagsException"
    assert len(client.list_tags_for_resource(resourceArn=arn)["tags"]) == 1, "a refused change keeps nothing"
    missing = arn.replace(":tagged", ":nope")
    assert error_code(client.list_tags_for_resource, resourceArn=missing) == "ResourceNotFoundException"
    assert error_code(client.tag_resource, resourceArn="not-an-arn", tags=[{"key": "a", "value": "b"}]) in (
        "InvalidArnException",
        "ValidationException",
    )
    # A custom action type is taggable too.
    client.create_custom_action_type(
        category="Build",
        provider="TaggedTool",
        version="1",
        inputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
        tags=[{"key": "owner", "value": "me"}],
    )
    custom = arn.replace(":tagged", ":actiontype:Custom/Build/TaggedTool/1")
    assert client.list_tags_for_resource(resourceArn=custom)["tags"] == [{"key": "owner", "value": "me"}]


def action_types():
    aws = client.list_action_types(actionOwnerFilter="AWS")["actionTypes"]
    providers = {(t["id"]["category"], t["id"]["provider"]) for t in aws}
    assert ("Build", "CodeBuild") in providers and ("Deploy", "ECS") in providers, providers
    assert all(t["id"]["owner"] == "AWS" for t in aws)
    client.create_custom_action_type(
        category="Test",
        provider="Checker",
        version="2",
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
    )
    custom = client.list_action_types(actionOwnerFilter="Custom")["actionTypes"]
    assert [(t["id"]["provider"], t["id"]["version"]) for t in custom] == [("Checker", "2")], custom
    got = client.get_action_type(category="Build", owner="AWS", provider="CodeBuild", version="1")["actionType"]
    assert got["id"]["provider"] == "CodeBuild", got
    # GetActionType describes AWS and partner types only, as the model's enum says.
    custom_get = dict(category="Test", owner="Custom", provider="Checker", version="2")
    assert error_code(client.get_action_type, **custom_get) == "ValidationException"
    missing = dict(category="Build", owner="AWS", provider="Nope", version="1")
    assert error_code(client.get_action_type, **missing) == "ActionTypeNotFoundException"
    assert error_code(client.list_action_types, actionOwnerFilter="Nobody") == "ValidationException"


def put_action_revision():
    client.create_pipeline(pipeline=commands_pipeline("revised", [("Build", [("Compile", ["true"])])]))
    revision = {"revisionId": "v-2", "revisionChangeId": "v-2", "created": 1_700_000_000}
    first = client.put_action_revision(
        pipelineName="revised", stageName="Source", actionName="Src", actionRevision=revision
    )
    assert first["newRevision"] is True, first
    again = client.put_action_revision(
        pipelineName="revised", stageName="Source", actionName="Src", actionRevision=revision
    )
    assert again == {**again, "newRevision": False, "pipelineExecutionId": first["pipelineExecutionId"]}, again
    execution = client.get_pipeline_execution(pipelineName="revised", pipelineExecutionId=first["pipelineExecutionId"])
    assert execution["pipelineExecution"]["trigger"]["triggerType"] == "PutActionRevision", execution
    args = dict(pipelineName="revised", stageName="Source", actionRevision=revision)
    assert error_code(client.put_action_revision, actionName="Nope", **args) == "ActionNotFoundException"
    assert (
        error_code(client.put_action_revision, pipelineName="nope", stageName="Source", actionName="Src", actionRevision=revision)
        == "PipelineNotFoundException"
    )
    assert (
        error_code(client.put_action_revision, pipelineName="revised", stageName="Nope", actionName="Src", actionRevision=revision)
        == "StageNotFoundException"
    )


def third_party_jobs_and_targets():
    type_id = {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}
    assert client.poll_for_third_party_jobs(actionTypeId=type_id)["jobs"] == []
    unknown = dict(type_id, provider="NoSuchPartner")
    assert error_code(client.poll_for_third_party_jobs, actionTypeId=unknown) == "ActionTypeNotFoundException"
    no_job = "00000000-0000-4000-8000-000000000000"
    assert error_code(client.get_third_party_job_details, jobId=no_job, clientToken="t") == "JobNotFoundException"
    assert (
        error_code(client.acknowledge_third_party_job, jobId=no_job, nonce="1", clientToken="t")
        == "JobNotFoundException"
    )
    # Deploy targets: a Commands action reports none.
    client.create_pipeline(pipeline=commands_pipeline("targets", [("Build", [("Compile", ["true"])])]))
    done = wait_for(
        "an action execution",
        lambda: [
            d
            for d in client.list_action_executions(pipelineName="targets")["actionExecutionDetails"]
            if d["actionName"] == "Src"
        ],
    )
    targets = client.list_deploy_action_execution_targets(
        pipelineName="targets", actionExecutionId=done[0]["actionExecutionId"]
    )
    assert targets["targets"] == [], targets
    assert (
        error_code(client.list_deploy_action_execution_targets, pipelineName="targets", actionExecutionId="nope")
        == "ActionExecutionNotFoundException"
    )


SCENARIOS = {
    "declaration_as_aws_answers": declaration_as_aws_answers,
    "tags": tags,
    "action_types": action_types,
    "put_action_revision": put_action_revision,
    "third_party_jobs_and_targets": third_party_jobs_and_targets,
}

if __name__ == "__main__":
    SCENARIOS[SCENARIO]()
    print(f"ok {SCENARIO}")
