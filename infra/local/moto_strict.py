"""moto's server, one request at a time, holding the requests to AWS's limits.

Serialised: moto does not isolate DynamoDB transactions: TransactWriteItems checks and writes
item by item with no lock, and a cancelled transaction restores a copy of the whole table
taken when it began, erasing whatever other requests wrote meanwhile. Real DynamoDB
serialises transactions. Handling one request at a time gives the same guarantee; requests
of different clients still interleave between calls, which is where Pipewright's races are.

Strict (docs/ARCHITECTURE.md, "The strict stand-in"): what moto leaves out of AWS's limits,
answered with the error AWS gives.

* DynamoDB item size, 400 KB, measured as DynamoDB documents it (moto measures a binary
  value by its base64 text and stops at 405,000 of its own bytes): PutItem and UpdateItem
  answer ValidationException; inside TransactWriteItems the item's cancellation reason is
  ValidationError, as DynamoDB reports it.
* TransactWriteItems: at most 100 actions (moto checks it) and 4 MB in all.
* EventBridge PutEvents: at most 10 entries (moto checks it) and 256 KB in all, each entry
  measured as EventBridge documents it.
* Elastic Beanstalk calls moto 5.1 leaves out, over moto's own applications and
  environments: CreateApplicationVersion (its source bundle must be an object in moto's S3,
  as Beanstalk reads it there), UpdateEnvironment (to a version that exists: the environment
  is Updating for one DescribeEnvironments, then Ready on the new version), DescribeEvents
  (none), and DescribeEnvironments filtered by ApplicationName and EnvironmentNames (moto
  answers every environment of the region).
* Throttling on demand: POST /_strict/throttle {"operation", "resource", "count", "error"}
  makes the next `count` calls of `operation` whose request names `resource` (a table, a
  bus) answer `error`: ThrottlingException, ProvisionedThroughputExceededException, or
  ThrottlingError (a TransactionCanceledException with that reason); ValidationError, a
  cancellation for a permanent reason, and ValidationException, a single write's (an item
  too large), are injected the same way. So are S3's SlowDown and ServiceUnavailable (503,
  XML) for the object operations CopyObject, PutObject, GetObject and HeadObject, whose
  `resource` is matched against the request's path and copy source. GET /_strict/throttle
  reports what is still pending, and how many calls were answered so by "operation resource".
* Latency on demand: POST /_strict/delay {"operation", "resource", "seconds", "count"} makes
  the next `count` calls of `operation` (a JSON API's, such as StartBuild) whose request names
  `resource` wait `seconds` before they are served, outside the stand-in's lock, so that a
  test can act while a call is on its way, as it may on AWS; GET /_strict/delay reports the
  orders pending and how many calls wait now, by resource.
* A meter of what AWS would bill: GET /_strict/billing reports the DynamoDB write and read
  units (by table) and the EventBridge events (by bus) the requests so far consumed, measured as AWS measures
  them (moto answers every ConsumedCapacity with a constant); DELETE resets it. Write units:
  per item written, 1 per started KB of the larger of the item before and after, twice that
  inside a transaction (condition checks included), plus the writes of the global secondary
  indexes whose entry for the item changed (index_units); a single write whose condition
  failed consumes its units too, as DynamoDB documents (a cancelled transaction is not
  metered: DynamoDB does not say what it consumes). Read units: 1 per started 4 KB read
  strongly consistent, half that eventually, twice that in a transaction; a Query or a batch
  sums the items it returns before rounding. Events: 1 per started 64 KB of each entry.
  Broken down by kind: write units by item (`write_units_by_item`, operation and key shape)
  and read units by request (`read_units_by_request`, operation and the keys or partition it
  names). Requests signed with an access key id starting "unmetered" are left out: a test's own
  observation of a run is not the run's cost.
* CodeCommit contents: moto keeps repositories but not what is in them. CreateCommit,
  GetBranch, GetCommit, GetFolder and GetFile are served here over moto's repositories, with
  botocore's shapes and CodeCommit's errors (a file of more than 6 MB is FileTooLargeException);
  CreateRepository and GetRepository answer their dates as epoch seconds, as JSON 1.1 does.

* CodeBuild, where moto is lenient: moto's StartBuild keeps only the project and
  `artifactsOverride`, ignores `idempotencyToken`, and its BatchGetBuilds ends every build
  SUCCEEDED at the first look. Here StartBuild refuses a CODEPIPELINE-typed project without
  `artifactsOverride` (AWS's error), answers the same build for the same project and
  `idempotencyToken` within 5 minutes (IdempotentParameterMismatchException when the request's
  other parameters differ, as CodeBuild answers), and records the overrides (source and its auth, source version, secondary sources,
  artifacts, environment variables, buildspec) where BatchGetBuilds shows them. A build stays
  IN_PROGRESS until a test plays CodeBuild: POST /_strict/codebuild/finish {"id", "status",
  "phase", "code", "message", "exported": {NAME: value}, "region"} ends it (a build of
  us-east-1 unless "region" names another); StopBuild ends it STOPPED. A Commands build's
  commands run here; StopBuild or a test's finish kills their shell, and the end they would
  have reached is dropped.
* S3 regions: moto serves every bucket whatever region a request is signed for. S3 refuses
  a request to an existing bucket signed for another region than the bucket's
  (AuthorizationHeaderMalformed, or AuthorizationQueryParametersError for a presigned URL;
  400, naming the bucket's region in the error and in x-amz-bucket-region), as AWS does: a
  client must be of the bucket's region.
  A copy's source may be in any region, as on S3.
* S3 copies: a CopyObject whose x-amz-copy-source-if-match is not the ETag of its source
  object is refused (412 PreconditionFailed), as S3 does; moto copies it anyway.
* Commands builds (projects named pipewright-commands-*, the stack's CommandsProject): the
  stand-in plays CodeBuild's compute. It unzips the source overrides from moto's S3 (Commands
  builds have none), runs the buildspec override's install then build commands with bash in a
  fresh directory and a clean environment (the build's variables and CODEBUILD_* only, no AWS
  credentials: CommandsBuildRole may read no S3 object, so the install-phase prelude fetches
  the inputs from their presigned URLs over HTTP, here),
  zips the artifacts' files to the artifact overrides, then ends the build and puts its
  "CodeBuild Build State Change" event on the default bus, as CodeBuild does.

    python moto_strict.py HOST PORT
"""

import base64
import copy
import io
import json
import os
import sys
import threading
import time
from decimal import Decimal

from moto.dynamodb.exceptions import (
    ItemSizeTooLarge,
    ItemSizeToUpdateTooLarge,
    MockValidationException,
    TransactionCanceledException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import dynamo_type
from moto.s3.models import s3_backends
from moto.core.responses import ActionResult
from moto.elasticbeanstalk.exceptions import InvalidParameterValueError as EbInvalidParameterValue
from moto.elasticbeanstalk.responses import EBResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

ITEM_LIMIT = 400 * 1024
TRANSACTION_LIMIT = 4 * 1024 * 1024
PUT_EVENTS_LIMIT = 256 * 1024
ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"


# --- DynamoDB item size, as DynamoDB documents it -------------------------------------------
# An attribute is its name's UTF-8 bytes plus its value: a string its UTF-8 bytes, a binary
# its bytes, a number 1 byte plus 1 per two significant digits, a boolean or null 1 byte, a
# list or map 3 bytes plus 1 per element plus the elements (a map's keys are names).


def number_size(text: str) -> int:
    digits = str(abs(Decimal(text)).normalize()).replace(".", "").lstrip("0")
    digits = digits.split("E")[0] if "E" in digits else digits
    return 1 + (len(digits) + 1) // 2


def binary_size(value) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return len(base64.b64decode(value))


def value_size(kind: str, value) -> int:
    if kind == "S":
        return len(value.encode("utf-8"))
    if kind == "N":
        return number_size(value)
    if kind == "B":
        return binary_size(value)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in value)
    if kind == "NS":
        return sum(number_size(v) for v in value)
    if kind == "BS":
        return sum(binary_size(v) for v in value)
    if kind == "L":
        return 3 + sum(1 + wire_size(v) for v in value)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + wire_size(v) for k, v in value.items())
    return len(str(value).encode("utf-8"))


def wire_size(attribute) -> int:
    """The size of an attribute value as the wire (or moto) gives it: {"S": ...}, a DynamoType."""
    if isinstance(attribute, dynamo_type.DynamoType):
        return attribute.size()
    (kind, value), = attribute.items()
    return value_size(kind, value)


def item_size(item: dict) -> int:
    return sum(len(name.encode("utf-8")) + wire_size(value) for name, value in item.items())


def dynamo_type_size(self) -> int:
    if self.is_list():
        return 3 + sum(1 + v.size() for v in self.value)
    if self.is_map():
        return 3 + sum(1 + len(k.encode("utf-8")) + v.size() for k, v in self.value.items())
    return value_size(self.type, self.value)


def limited_setitem(self, key, value) -> None:
    size = lambda v: v.size() if isinstance(v, dynamo_type.DynamoType) else len(str(v).encode("utf-8"))
    others = sum(len(k.encode("utf-8")) + size(v) for k, v in self.items() if k != key)
    if others + len(key.encode("utf-8")) + size(value) > ITEM_LIMIT:
        raise ItemSizeTooLarge
    dict.__setitem__(self, key, value)


# moto's own checks (put, update, and both inside a transaction) now measure as DynamoDB does.
dynamo_type.DynamoType.size = dynamo_type_size
dynamo_type.LimitedSizeDict.__setitem__ = limited_setitem

original_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    """moto refuses a transaction's oversized item with a bare ValidationException; DynamoDB
    cancels the transaction and names the item: reason ValidationError at its index."""
    writes = [i for i, item in enumerate(transact_items) if next(iter(item)) in ("Put", "Update")]
    written = {"count": 0}
    put_item, update_item = self.put_item, self.update_item

    def counted(call):
        def wrapper(*args, **kwargs):
            written["count"] += 1
            return call(*args, **kwargs)

        return wrapper

    self.put_item, self.update_item = counted(put_item), counted(update_item)
    try:
        return original_transact_write_items(self, transact_items)
    except (ItemSizeTooLarge, ItemSizeToUpdateTooLarge):
        at = writes[min(written["count"], len(writes)) - 1] if writes else 0
        reasons = [(None, None, None)] * len(transact_items)
        reasons[at] = ("ValidationError", ITEM_TOO_LARGE, None)
        raise TransactionCanceledException(reasons)
    finally:
        del self.put_item, self.update_item


DynamoDBBackend.transact_write_items = transact_write_items


# --- requests moto takes whole but AWS refuses -----------------------------------------------


def dynamo_error(name: str, message: str, **extra) -> tuple[int, dict]:
    return 400, {"__type": f"com.amazonaws.dynamodb.v20120810#{name}", "message": message, **extra}


def events_error(name: str, message: str) -> tuple[int, dict]:
    return 400, {"__type": name, "message": message}


def region_of(environ) -> str:
    # Credential=AKID/20260101/us-east-1/dynamodb/aws4_request
    parts = environ.get("HTTP_AUTHORIZATION", "").split("Credential=")[-1].split("/")
    return parts[2] if len(parts) > 2 else "us-east-1"


def stored_size(environ, table_name: str, key: dict) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    try:
        item = dynamodb_backends[DEFAULT_ACCOUNT_ID][region_of(environ)].get_item(table_name, key)
    except Exception:  # an unknown table: moto answers that itself
        return 0
    return item.size() if item else 0


def transaction_size(environ, request: dict) -> int:
    """The items a transaction writes or checks: a put's item, an update's stored item plus the
    values it sets, the stored item of a check or delete."""
    total = 0
    for action in request.get("TransactItems", []):
        (kind, op), = action.items()
        if kind == "Put":
            total += item_size(op.get("Item", {}))
            continue
        total += stored_size(environ, op.get("TableName", ""), op.get("Key", {}))
        if kind == "Update":
            total += sum(wire_size(v) for v in op.get("ExpressionAttributeValues", {}).values())
    return total


def entry_size(entry: dict) -> int:
    """A PutEvents entry as EventBridge measures it: 14 bytes for a Time, and the UTF-8 bytes of
    Source, DetailType, Detail and each of Resources."""
    size = 14 if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        size += len((entry.get(field) or "").encode("utf-8"))
    return size + sum(len(r.encode("utf-8")) for r in entry.get("Resources") or [] if r is not None)


def refusal(environ, target: str, request: dict):
    """AWS's answer to a request over one of its limits that moto would take, or None."""
    if target == "DynamoDB_20120810.TransactWriteItems" and len(request.get("TransactItems", [])) <= 100:
        if transaction_size(environ, request) > TRANSACTION_LIMIT:
            return dynamo_error(
                "ValidationException", "Transaction request cannot exceed the maximum allowed size of 4 MB"
            )
    if target == "AWSEvents.PutEvents":
        if sum(entry_size(e) for e in request.get("Entries", [])) > PUT_EVENTS_LIMIT:
            return events_error("ValidationException", "Total size of the entries in the request is over the limit.")
    return None


# --- what AWS would bill --------------------------------------------------------------------


def dynamo_backend(environ):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][region_of(environ)]


def key_of(environ, table_name: str, item: dict) -> dict:
    """The key attributes of an item a request carries, by the table's key schema."""
    try:
        table = dynamo_backend(environ).get_table(table_name)
    except Exception:
        return {}
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: item[name] for name in names if name in item}


def stored_item(environ, table_name: str, key: dict):
    try:
        return dynamo_backend(environ).get_item(table_name, key)
    except Exception:  # an unknown table: moto answers that itself
        return None


def index_units(environ, table_name: str, before, after) -> int:
    """The write units a change of one item costs its global secondary indexes: an index whose
    entry for the item did not change (its keys and projected attributes) is not written; a
    changed entry is written at its projected size, and an entry whose key changed or went
    away is deleted as well. Billed at the standard rate, in a transaction too."""
    try:
        indexes = dynamo_backend(environ).get_table(table_name).global_indexes
    except Exception:
        return 0
    units = 0
    for index in indexes:
        def entry(item):
            if item is None or any(k not in item.attrs for k in index.schema_key_attrs):
                return None
            return index.project(item)

        old, new = entry(before), entry(after)
        if old is None and new is None or (old is not None and new is not None and old.to_json() == new.to_json()):
            continue
        moved = old is not None and new is not None and any(
            old.attrs[k] != new.attrs[k] for k in index.schema_key_attrs
        )
        if new is not None:
            units += started(new.size(), 1024)
        if old is not None and (new is None or moved):
            units += started(old.size(), 1024)
    return units


def started(size: int, unit: int) -> int:
    return max(1, -(-size // unit))


def written_items(environ, target: str, request: dict) -> list:
    """(table, key, transactional) of every item a write request touches."""
    operation = target.split(".")[-1]
    if operation == "PutItem":
        table = request.get("TableName", "")
        return [(table, key_of(environ, table, request.get("Item", {})), False)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(request.get("TableName", ""), request.get("Key", {}), False)]
    if operation == "TransactWriteItems":
        touched = []
        for action in request.get("TransactItems", []):
            (kind, op), = action.items()
            table = op.get("TableName", "")
            key = key_of(environ, table, op.get("Item", {})) if kind == "Put" else op.get("Key", {})
            touched.append((table, key, True))
        return touched
    if operation == "BatchWriteItem":
        touched = []
        for table, writes in request.get("RequestItems", {}).items():
            for write in writes:
                if "PutRequest" in write:
                    touched.append((table, key_of(environ, table, write["PutRequest"].get("Item", {})), False))
                elif "DeleteRequest" in write:
                    touched.append((table, write["DeleteRequest"].get("Key", {}), False))
        return touched
    return []


def read_units(target: str, request: dict, response: dict) -> dict:
    """Read units by table."""
    operation = target.split(".")[-1]
    table = request.get("TableName", "")
    consistent = 1.0 if request.get("ConsistentRead") else 0.5
    if operation == "GetItem":
        return {table: consistent * started(item_size(response.get("Item", {})), 4096)}
    if operation in ("Query", "Scan"):
        return {table: consistent * started(sum(item_size(i) for i in response.get("Items", [])), 4096)}
    if operation == "BatchGetItem":
        units: dict = {}
        for name, items in response.get("Responses", {}).items():
            each = 1.0 if request.get("RequestItems", {}).get(name, {}).get("ConsistentRead") else 0.5
            units[name] = units.get(name, 0.0) + sum(each * started(item_size(i), 4096) for i in items)
        return units
    if operation == "TransactGetItems":
        units = {}
        for get, answer in zip(request.get("TransactItems", []), response.get("Responses", [])):
            name = get.get("Get", {}).get("TableName", "")
            units[name] = units.get(name, 0.0) + 2.0 * started(item_size(answer.get("Item", {})), 4096)
        return units
    return {}


def key_kind(key: dict) -> str:
    """An item's kind for the meter's breakdown: its key values up to the first '#' or id."""
    parts = []
    for value in key.values():
        text = next(iter(value.values()), "") if isinstance(value, dict) else str(value)
        parts.append(str(text).split("#")[0] if "#" in str(text) else str(text)[:24])
    return "/".join(parts)


def read_kind(request: dict) -> str:
    """A read request's kind for the meter's breakdown: the kinds of the keys it names (a
    query's partition and index, a batch's keys)."""
    if "Key" in request:
        return key_kind(request["Key"])
    if "KeyConditionExpression" in request:
        values = request.get("ExpressionAttributeValues", {})
        partition = next((key_kind({k: v}) for k, v in sorted(values.items()) if k in (":pk", ":p")), "?")
        index = request.get("IndexName")
        return f"{partition} ({index})" if index else partition
    if "RequestItems" in request:
        kinds = sorted({key_kind(key) for batch in request["RequestItems"].values() for key in batch.get("Keys", [])})
        return ",".join(kinds)
    return "?"


class Billing:
    """Units and events by table and by bus: tests running side by side each read their own."""

    def __init__(self) -> None:
        self.by_resource: dict[str, dict] = {}

    def reset(self) -> None:
        self.by_resource.clear()

    def meter(self, resource: str) -> dict:
        return self.by_resource.setdefault(resource, {"write_units": 0, "read_units": 0.0, "events": 0})

    def before(self, environ, target: str, request: dict) -> list:
        """What a write request touches, with a copy of each item as it was."""
        return [
            (table, key, transactional, copy.deepcopy(stored_item(environ, table, key)))
            for table, key, transactional in written_items(environ, target, request)
        ]

    def after(self, environ, target: str, request: dict, touched: list, response: dict) -> None:
        operation = target.split(".")[-1]
        for table, key, transactional, item_before in touched:
            item_after = stored_item(environ, table, key)
            size = max(item_before.size() if item_before else 0, item_after.size() if item_after else 0)
            units = (2 if transactional else 1) * started(size, 1024)
            indexes = index_units(environ, table, item_before, item_after)
            meter = self.meter(table)
            meter["write_units"] += units + indexes
            by_kind = meter.setdefault("write_units_by_item", {})
            kind = f"{operation} {key_kind(key)}"
            by_kind[kind] = by_kind.get(kind, 0) + units
            if indexes:
                by_kind[f"{kind} (indexes)"] = by_kind.get(f"{kind} (indexes)", 0) + indexes
        for table, units in read_units(target, request, response).items():
            meter = self.meter(table)
            meter["read_units"] += units
            by_kind = meter.setdefault("read_units_by_request", {})
            kind = f"{operation} {read_kind(request)}"
            by_kind[kind] = by_kind.get(kind, 0.0) + units
        if target.endswith(".PutEvents"):
            for entry in request.get("Entries", []):
                self.meter(entry.get("EventBusName") or "default")["events"] += started(entry_size(entry), 64 * 1024)

    def refused(self, environ, target: str, request: dict, touched: list, response: dict) -> None:
        """A single conditional write whose condition failed still consumes write units, as
        DynamoDB documents: one per started KB of the larger of the item stored and the item
        the request would write (an update's is taken as the stored one), at least one.
        DynamoDB does not say what a cancelled transaction consumes: not metered here."""
        operation = target.split(".")[-1]
        if operation not in ("PutItem", "UpdateItem", "DeleteItem"):
            return
        if not str(response.get("__type", "")).endswith("ConditionalCheckFailedException"):
            return
        for table, key, _, item_before in touched:
            size = item_before.size() if item_before else 0
            if operation == "PutItem":
                size = max(size, item_size(request.get("Item", {})))
            units = max(1, started(size, 1024))
            meter = self.meter(table)
            meter["write_units"] += units
            by_kind = meter.setdefault("write_units_by_item", {})
            kind = f"{operation} {key_kind(key)} (condition failed)"
            by_kind[kind] = by_kind.get(kind, 0) + units

    def report(self) -> dict:
        return self.by_resource
# --- CodeCommit contents ----------------------------------------------------------------------

CODECOMMIT = "CodeCommit_20150413."
GET_FILE_LIMIT = 6 * 1024 * 1024


def sha1(*parts) -> str:
    import hashlib

    digest = hashlib.sha1()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode("utf-8"))
    return digest.hexdigest()


class CodeCommitError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def clean_path(path: str) -> str:
    return "/".join(part for part in (path or "").split("/") if part)


class CodeCommitContents:
    """Per repository: commits (id -> commit, with the whole tree as path -> (blob id, mode)),
    branches (name -> commit id) and blobs (id -> bytes)."""

    def __init__(self) -> None:
        self.repositories: dict[tuple, dict] = {}

    def repository(self, environ, request: dict) -> dict:
        from moto.codecommit.models import codecommit_backends
        from moto.core import DEFAULT_ACCOUNT_ID

        name = request.get("repositoryName")
        if not name:
            raise CodeCommitError("RepositoryNameRequiredException", "A repository name is required.")
        region = region_of(environ)
        if name not in codecommit_backends[DEFAULT_ACCOUNT_ID][region].repositories:
            raise CodeCommitError("RepositoryDoesNotExistException", f"{name} does not exist")
        return self.repositories.setdefault((region, name), {"commits": {}, "branches": {}, "blobs": {}})

    @staticmethod
    def resolve(repo: dict, specifier) -> str:
        if not specifier:
            specifier = next(iter(repo["branches"]), None)
            if specifier is None:
                raise CodeCommitError("CommitDoesNotExistException", "The repository has no commits.")
        if specifier in repo["branches"]:
            return repo["branches"][specifier]
        if specifier in repo["commits"]:
            return specifier
        raise CodeCommitError("CommitDoesNotExistException", f"Could not find commit {specifier}.")

    def create_commit(self, repo: dict, request: dict) -> dict:
        branch = request.get("branchName")
        if not branch:
            raise CodeCommitError("BranchNameRequiredException", "A branch name is required.")
        parent = request.get("parentCommitId")
        head = repo["branches"].get(branch)
        if head is not None and not parent:
            raise CodeCommitError("ParentCommitIdRequiredException", "A parent commit ID is required.")
        if head is not None and parent != head:
            raise CodeCommitError("ParentCommitIdOutdatedException", f"{parent} is not the tip of branch {branch}.")
        if head is None and parent and parent not in repo["commits"]:
            raise CodeCommitError("ParentCommitDoesNotExistException", f"Could not find commit {parent}.")
        if head is None and not parent and repo["commits"]:
            raise CodeCommitError("ParentCommitIdRequiredException", "A parent commit ID is required.")
        tree = dict(repo["commits"][parent]["tree"]) if parent else {}
        added, updated, deleted = [], [], []
        for entry in request.get("putFiles") or []:
            path = clean_path(entry.get("filePath", ""))
            if not path:
                raise CodeCommitError("PathRequiredException", "A file path is required.")
            content = base64.b64decode(entry.get("fileContent") or "")
            blob = sha1(f"blob {len(content)}\0".encode(), content)
            repo["blobs"][blob] = content
            mode = entry.get("fileMode") or "NORMAL"
            (updated if path in tree else added).append({"absolutePath": path, "blobId": blob, "fileMode": mode})
            tree[path] = (blob, mode)
        for entry in request.get("deleteFiles") or []:
            path = clean_path(entry.get("filePath", ""))
            if path not in tree:
                raise CodeCommitError("FileDoesNotExistException", f"{path} does not exist.")
            blob, mode = tree.pop(path)
            deleted.append({"absolutePath": path, "blobId": blob, "fileMode": mode})
        if parent and tree == repo["commits"][parent]["tree"]:
            raise CodeCommitError("NoChangeException", "The commit contains no changes.")
        import time

        user = {"name": request.get("authorName") or "moto", "email": request.get("email") or "moto@example.com",
                "date": f"{int(time.time())} +0000"}
        tree_id = sha1(json.dumps(sorted(tree.items())))
        message = request.get("commitMessage") or ""
        commit_id = sha1(parent or "", tree_id, message, user["date"], len(repo["commits"]))
        repo["commits"][commit_id] = {
            "commitId": commit_id, "treeId": tree_id, "parents": [parent] if parent else [], "message": message,
            "author": user, "committer": user, "additionalData": "", "tree": tree,
        }
        repo["branches"][branch] = commit_id
        return {"commitId": commit_id, "treeId": tree_id, "filesAdded": added, "filesUpdated": updated,
                "filesDeleted": deleted}

    def get_branch(self, repo: dict, request: dict) -> dict:
        branch = request.get("branchName")
        if not branch:
            raise CodeCommitError("BranchNameRequiredException", "A branch name is required.")
        if branch not in repo["branches"]:
            raise CodeCommitError("BranchDoesNotExistException", f"Could not find branch {branch}.")
        return {"branch": {"branchName": branch, "commitId": repo["branches"][branch]}}

    def get_commit(self, repo: dict, request: dict) -> dict:
        commit_id = request.get("commitId")
        if not commit_id:
            raise CodeCommitError("CommitIdRequiredException", "A commit ID is required.")
        commit = repo["commits"].get(commit_id)
        if commit is None:
            raise CodeCommitError("CommitIdDoesNotExistException", f"Could not find commit {commit_id}.")
        return {"commit": {k: v for k, v in commit.items() if k != "tree"}}

    def get_folder(self, repo: dict, request: dict) -> dict:
        if "folderPath" not in request:
            raise CodeCommitError("PathRequiredException", "A folder path is required.")
        commit_id = self.resolve(repo, request.get("commitSpecifier"))
        folder = clean_path(request["folderPath"])
        prefix = f"{folder}/" if folder else ""
        below = {path[len(prefix):]: entry for path, entry in repo["commits"][commit_id]["tree"].items()
                 if path.startswith(prefix)}
        if folder and not below:
            raise CodeCommitError("FolderDoesNotExistException", f"{request['folderPath']} does not exist.")
        files, links, folders = [], [], {}
        for relative, (blob, mode) in sorted(below.items()):
            head, _, rest = relative.partition("/")
            if rest:
                folders.setdefault(head, []).append((rest, blob, mode))
                continue
            entry = {"blobId": blob, "absolutePath": prefix + relative, "relativePath": relative, "fileMode": mode}
            (links if mode == "SYMLINK" else files).append(entry)
        sub_folders = [{"treeId": sha1(json.dumps(entries)), "absolutePath": prefix + name, "relativePath": name}
                       for name, entries in sorted(folders.items())]
        return {"commitId": commit_id, "folderPath": request["folderPath"],
                "treeId": sha1(json.dumps(sorted(below.items()))), "subFolders": sub_folders, "files": files,
                "symbolicLinks": links, "subModules": []}

    def get_file(self, repo: dict, request: dict) -> dict:
        if not request.get("filePath"):
            raise CodeCommitError("PathRequiredException", "A file path is required.")
        commit_id = self.resolve(repo, request.get("commitSpecifier"))
        path = clean_path(request["filePath"])
        entry = repo["commits"][commit_id]["tree"].get(path)
        if entry is None:
            raise CodeCommitError("FileDoesNotExistException", f"{request['filePath']} does not exist.")
        blob, mode = entry
        content = repo["blobs"][blob]
        if len(content) > GET_FILE_LIMIT:
            raise CodeCommitError("FileTooLargeException", "The file is larger than 6 MB: use GetBlob or git.")
        return {"commitId": commit_id, "blobId": blob, "filePath": path, "fileMode": mode,
                "fileSize": len(content), "fileContent": base64.b64encode(content).decode("ascii")}

    OPERATIONS = {
        "CreateCommit": create_commit,
        "GetBranch": get_branch,
        "GetCommit": get_commit,
        "GetFolder": get_folder,
        "GetFile": get_file,
    }

    @staticmethod
    def metadata_answer(environ, request: dict, create: bool):
        """moto's CreateRepository and GetRepository, with the dates as JSON 1.1 puts a
        timestamp (epoch seconds): moto answers ISO text, which an SDK refuses to read."""
        from datetime import datetime

        from moto.codecommit.models import codecommit_backends
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.exceptions import JsonRESTError

        backend = codecommit_backends[DEFAULT_ACCOUNT_ID][region_of(environ)]
        name = request.get("repositoryName", "")
        try:
            if create:
                metadata = dict(backend.create_repository(name, request.get("repositoryDescription")))
            else:
                metadata = dict(backend.get_repository(name))
        except JsonRESTError as error:
            return 400, {"__type": error.error_type, "message": error.message}
        for key in ("creationDate", "lastModifiedDate"):
            text = metadata.get(key)
            if isinstance(text, str):
                metadata[key] = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        return 200, {"repositoryMetadata": metadata}

    def serve(self, environ, target: str, body: bytes):
        """CodeCommit's answer to a contents operation, or None for moto to serve."""
        name = target[len(CODECOMMIT):] if target.startswith(CODECOMMIT) else ""
        if name in ("CreateRepository", "GetRepository"):
            return self.metadata_answer(environ, json.loads(body or b"{}"), name == "CreateRepository")
        operation = self.OPERATIONS.get(name)
        if operation is None:
            return None
        try:
            request = json.loads(body or b"{}")
            return 200, operation(self, self.repository(environ, request), request)
        except CodeCommitError as error:
            return 400, {"__type": error.name, "message": str(error)}
# --- Elastic Beanstalk: application versions and environment updates -----------------------


def beanstalk_environments(backend, application=None, names=None):
    return [
        env
        for env in backend.describe_environments()
        if (not application or env.application_name == application) and (not names or env.environment_name in names)
    ]


def beanstalk_create_application_version(self):
    backend = self.elasticbeanstalk_backend
    application = self._get_param("ApplicationName")
    label = self._get_param("VersionLabel")
    if application not in backend.applications:
        raise EbInvalidParameterValue(f"No Application named '{application}' found.")
    versions = backend.__dict__.setdefault("pipewright_versions", {})
    if (application, label) in versions:
        raise EbInvalidParameterValue(f"Application Version {label} already exists.")
    bundle = self._get_param("SourceBundle") or {}
    bucket, key = bundle.get("S3Bucket"), bundle.get("S3Key")
    try:
        found = s3_backends[self.current_account][self.partition].get_object(bucket, key)
    except Exception:
        found = None
    if found is None:
        raise EbInvalidParameterValue(f"Unable to download from S3 location (Bucket: {bucket}  Key: {key}).")
    version = {
        "ApplicationName": application,
        "VersionLabel": label,
        "SourceBundle": {"S3Bucket": bucket, "S3Key": key},
        "Status": "PROCESSED",
    }
    versions[(application, label)] = version
    return ActionResult({"ApplicationVersion": version})


def beanstalk_view(env) -> dict:
    return {
        "EnvironmentName": env.environment_name,
        "EnvironmentId": env.environment_id,
        "ApplicationName": env.application_name,
        "VersionLabel": str(env.version_label),
        "Status": env.status,
        "Health": env.health,
        "EnvironmentArn": env.environment_arn,
    }


def beanstalk_update_environment(self):
    backend = self.elasticbeanstalk_backend
    name = self._get_param("EnvironmentName")
    label = self._get_param("VersionLabel")
    found = beanstalk_environments(backend, None, [name])
    if not found:
        raise EbInvalidParameterValue(f"No Environment found for EnvironmentName = '{name}'.")
    env = found[0]
    versions = backend.__dict__.setdefault("pipewright_versions", {})
    if label and (env.application_name, label) not in versions:
        raise EbInvalidParameterValue(f"No Application Version named '{label}' found.")
    if label:
        env.version_label = label
    env.status = "Updating"
    return ActionResult(beanstalk_view(env))


def beanstalk_describe_environments(self):
    backend = self.elasticbeanstalk_backend
    names = self._get_param("EnvironmentNames") or []
    shown = []
    for env in beanstalk_environments(backend, self._get_param("ApplicationName"), names):
        shown.append(beanstalk_view(env))
        # An update takes one look to finish.
        if env.status == "Updating":
            env.status = "Ready"
    return ActionResult({"Environments": shown})


def beanstalk_describe_events(self):
    return ActionResult({"Events": []})


EBResponse.create_application_version = beanstalk_create_application_version
EBResponse.update_environment = beanstalk_update_environment
EBResponse.describe_environments = beanstalk_describe_environments
EBResponse.describe_events = beanstalk_describe_events


# --- throttling on demand -------------------------------------------------------------------

THROTTLES = {
    "ThrottlingException": lambda target, request: (
        dynamo_error("ThrottlingException", "Rate of requests exceeds the allowed throughput.")
        if target.startswith("DynamoDB")
        else events_error("ThrottlingException", "Rate exceeded")
    ),
    "ProvisionedThroughputExceededException": lambda target, request: dynamo_error(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    "ThrottlingError": lambda target, request: cancelled_transaction(
        request,
        "ThrottlingError",
        "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
        "scaling your table or index so please try again shortly.",
    ),
    # Not throttling, but injected the same way: a permanent reason, which must not be retried
    # (a transaction's cancellation reason, and a single write's error).
    "ValidationError": lambda target, request: cancelled_transaction(request, "ValidationError", ITEM_TOO_LARGE),
    "ValidationException": lambda target, request: dynamo_error("ValidationException", ITEM_TOO_LARGE),
}


def cancelled_transaction(request: dict, code: str, message: str) -> tuple[int, dict]:
    count = max(1, len(request.get("TransactItems", [])))
    reasons = [{"Code": "None"}] * count
    reasons[0] = {"Code": code, "Message": message}
    codes = ", ".join(r["Code"] for r in reasons)
    return dynamo_error(
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )


# S3's answers to a request it will not serve now (REST, XML), injected the same way: the SDK
# retries both, and a caller that has used its tries sees the code.
S3_THROTTLES = {
    "SlowDown": (503, "Please reduce your request rate."),
    "ServiceUnavailable": (503, "Service is unable to handle request."),
}


def s3_operation(environ) -> str | None:
    """The S3 operation of a path-style request on an object, for injected errors: CopyObject,
    PutObject, GetObject or HeadObject; None for anything else."""
    if s3_signed_region(environ) is None or "/" not in environ.get("PATH_INFO", "").lstrip("/"):
        return None
    method = environ["REQUEST_METHOD"]
    # The Rust SDK names its operation in the query (x-id=CopyObject); any other parameter of a
    # PUT is a sub-resource (a part, tags).
    query = [p for p in environ.get("QUERY_STRING", "").split("&") if p and not p.startswith("x-id=")]
    if method == "PUT" and not query:
        return "CopyObject" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject"}.get(method)


def s3_error(code: str, head: bool) -> tuple[str, bytes]:
    status, message = S3_THROTTLES[code]
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        "<RequestId>strict</RequestId></Error>"
    ).encode("utf-8")
    return f"{status} Slow Down" if code == "SlowDown" else f"{status} Service Unavailable", b"" if head else body


class Throttles:
    def __init__(self) -> None:
        self.pending: list[dict] = []
        self.answered: dict[str, int] = {}

    def add(self, order: dict) -> None:
        if order.get("error") not in THROTTLES and order.get("error") not in S3_THROTTLES:
            raise ValueError(f"error must be one of {sorted(THROTTLES) + sorted(S3_THROTTLES)}")
        self.pending.append(
            {"operation": order["operation"], "resource": order.get("resource", ""), "count": int(order["count"]),
             "error": order["error"]}
        )

    def take(self, target: str, body: bytes):
        operation = target.split(".")[-1]
        for order in self.pending:
            if order["operation"] == operation and order["resource"].encode("utf-8") in body:
                order["count"] -= 1
                if order["count"] <= 0:
                    self.pending.remove(order)
                answered = f"{operation} {order['resource']}"
                self.answered[answered] = self.answered.get(answered, 0) + 1
                return order["error"]
        return None

    def report(self) -> dict:
        return {"pending": self.pending, "answered": self.answered}


class Delays:
    """Calls held back before they are served (`/_strict/delay`), with their own lock: a call
    waits outside the stand-in's lock, and the others go on meanwhile."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[dict] = []
        self.waiting: dict[str, int] = {}

    def add(self, order: dict) -> None:
        seconds, count = float(order["seconds"]), int(order["count"])
        if not 0 < seconds <= 30 or count < 1:
            raise ValueError("seconds must be in (0, 30] and count at least 1")
        with self.lock:
            self.pending.append({"operation": order["operation"], "resource": order.get("resource", ""),
                                 "seconds": seconds, "count": count})

    def hold(self, target: str, body: bytes) -> None:
        operation = target.split(".")[-1]
        with self.lock:
            order = next((o for o in self.pending
                          if o["operation"] == operation and o["resource"].encode("utf-8") in body), None)
            if order is None:
                return
            order["count"] -= 1
            if order["count"] <= 0:
                self.pending.remove(order)
            resource = order["resource"]
            self.waiting[resource] = self.waiting.get(resource, 0) + 1
        time.sleep(order["seconds"])
        with self.lock:
            self.waiting[resource] -= 1

    def report(self) -> dict:
        with self.lock:
            return {"pending": list(self.pending), "waiting": dict(self.waiting)}


# --- CodeBuild ------------------------------------------------------------------------------

IDEMPOTENCY_SECONDS = 300
PHASES = ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD",
          "POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED"]


def codebuild_backend(environ, region: str | None = None):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.codebuild.models import codebuild_backends

    return codebuild_backends[DEFAULT_ACCOUNT_ID][region or region_of(environ)]


def codebuild_error(name: str, message: str) -> tuple[int, dict]:
    return 400, {"__type": name, "message": message}


def stored_build(backend, build_id: str):
    for builds in backend.build_metadata_history.values():
        for build in builds:
            if build["id"] == build_id:
                return build
    return None


def epoch(value):
    """An ISO 8601 time (moto's) as the epoch seconds of AWS's JSON protocol."""
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else value


def wire(build: dict) -> dict:
    """A build as CodeBuild's JSON protocol sends it: times as epoch seconds."""
    out = dict(build)
    for key in ("startTime", "endTime"):
        if key in out:
            out[key] = epoch(out[key])
    out["phases"] = [{k: epoch(v) if k in ("startTime", "endTime") else v for k, v in p.items()}
                     for p in build.get("phases", [])]
    return out


def call(app, environ) -> tuple[int, bytes]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])

    body = b"".join(app(environ, start_response))
    return answer.get("status", 500), body


class Builds:
    def __init__(self, lock) -> None:
        self.tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self.lock = lock

    def start(self, app, environ, request: dict):
        import time

        backend = codebuild_backend(environ)
        name = request.get("projectName", "")
        project = backend.codebuild_projects.get(name)
        if project is None:
            return None  # moto answers ResourceNotFoundException
        artifacts_type = (project.project_metadata.get("artifacts") or {}).get("type")
        if artifacts_type == "CODEPIPELINE" and not request.get("artifactsOverride"):
            return codebuild_error("InvalidInputException",
                                   "ArtifactsOverride must be set when using artifacts type CodePipelines")
        token = request.get("idempotencyToken")
        # What the token stands for: the request's other parameters.
        parameters = json.dumps({k: v for k, v in request.items() if k != "idempotencyToken"}, sort_keys=True)
        if token:
            seen = self.tokens.get((name, token))
            if seen and time.time() - seen[1] < IDEMPOTENCY_SECONDS:
                if seen[2] != parameters:
                    return codebuild_error("IdempotentParameterMismatchException",
                                           "The idempotency token was used with different parameters")
                return 200, {"build": wire(stored_build(backend, seen[0]))}
        status, body = call(app, environ)
        if status != 200:
            return status, json.loads(body or b"{}")
        build = stored_build(backend, json.loads(body)["build"]["id"])
        if "sourceTypeOverride" in request:
            build["source"] = {"type": request["sourceTypeOverride"]}
            if request.get("sourceLocationOverride"):
                build["source"]["location"] = request["sourceLocationOverride"]
        if request.get("sourceAuthOverride"):
            build["source"]["auth"] = request["sourceAuthOverride"]
        if request.get("sourceVersion"):
            build["sourceVersion"] = request["sourceVersion"]
        if request.get("buildspecOverride"):
            build["source"]["buildspec"] = request["buildspecOverride"]
        build["secondarySources"] = request.get("secondarySourcesOverride", [])
        build["artifacts"] = request.get("artifactsOverride") or build["artifacts"]
        build["secondaryArtifacts"] = request.get("secondaryArtifactsOverride", [])
        build["environment"]["environmentVariables"] = request.get("environmentVariablesOverride", [])
        if request.get("encryptionKeyOverride"):
            build["encryptionKey"] = request["encryptionKeyOverride"]
        if token:
            self.tokens[(name, token)] = (build["id"], time.time(), parameters)
        if name.startswith(COMMANDS_PREFIX):
            copied = {"HTTP_AUTHORIZATION": environ.get("HTTP_AUTHORIZATION", "")}
            threading.Thread(target=run_commands_build, args=(copied, build["id"], self.lock), daemon=True).start()
        return 200, {"build": wire(build)}

    @staticmethod
    def batch_get(environ, request: dict):
        backend = codebuild_backend(environ)
        found, missing = [], []
        for build_id in request.get("ids", []):
            build = stored_build(backend, build_id)
            (found if build else missing).append(wire(build) if build else build_id)
        return 200, {"builds": found, "buildsNotFound": missing}

    @staticmethod
    def finish(environ, order: dict, status: str | None = None) -> dict:
        from moto.core.utils import iso_8601_datetime_with_milliseconds

        build = stored_build(codebuild_backend(environ, order.get("region")), order["id"])
        if build is None:
            raise ValueError(f"no build {order['id']}")
        status = status or order.get("status", "SUCCEEDED")
        failing = order.get("phase", "BUILD") if status != "SUCCEEDED" else None
        now = iso_8601_datetime_with_milliseconds()
        phases = []
        for phase in PHASES:
            entry = {"phaseType": phase, "startTime": now}
            if phase != "COMPLETED":
                entry.update(endTime=now, durationInSeconds=0, phaseStatus="SUCCEEDED")
            if phase == failing:
                entry["phaseStatus"] = status if status != "STOPPED" else "STOPPED"
                if order.get("code") or order.get("message"):
                    entry["contexts"] = [{"statusCode": order.get("code", ""), "message": order.get("message", "")}]
            phases.append(entry)
            if phase == failing:
                phases.append({"phaseType": "COMPLETED", "startTime": now})
                break
        build.update(phases=phases, buildStatus=status, currentPhase="COMPLETED", buildComplete=True, endTime=now)
        build["exportedEnvironmentVariables"] = [
            {"name": k, "value": v} for k, v in (order.get("exported") or {}).items()
        ]
        return build


# --- Commands builds: the stand-in as CodeBuild's compute ---------------------------------

COMMANDS_PREFIX = "pipewright-commands-"
# Where CommandsBuildRole may put objects (template.yaml), and nothing else.
STAGED_OUTPUTS_PREFIX = "pipewright-build-outputs/"


def s3_backend():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["global"]


def unzip_object(location: str, into: str) -> None:
    import zipfile

    bucket, key = location.split("/", 1)
    value = s3_backend().get_object(bucket, key).value
    os.makedirs(into, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(value)) as archive:
        archive.extractall(into)


def zip_files(root: str, patterns: list) -> bytes | None:
    import glob
    import zipfile

    names = sorted({name for pattern in patterns for name in glob.glob(pattern, root_dir=root, recursive=True)
                    if os.path.isfile(os.path.join(root, name))})
    if not names:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(os.path.join(root, name), name)
    return buffer.getvalue()


def secret_value(environ, name: str) -> str:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[DEFAULT_ACCOUNT_ID][region_of(environ)]
    return backend.get_secret_value(name.split(":")[0], None, None)["SecretString"]


# The shell of each Commands build still running, by build id: StopBuild (and a test's finish)
# ends it, as CodeBuild ends a stopped build's container. Guarded by the stand-in's lock.
RUNNING_BUILDS: dict = {}


def end_running_build(build_id: str) -> None:
    import signal

    process = RUNNING_BUILDS.pop(build_id, None)
    if process is not None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass  # it has just ended


def run_commands_build(environ, build_id: str, lock) -> None:
    """One Commands build, from its stored overrides to its event."""
    import shutil
    import subprocess
    import tempfile

    import time

    # CodeBuild queues and provisions for tens of seconds before a build runs; half a second
    # keeps the stand-in's builds from ending before StartBuild's answer is acted on, which
    # never happens on AWS (the functions handle it anyway: the event is delivered again).
    time.sleep(0.5)
    order = {"id": build_id, "status": "SUCCEEDED"}
    with lock:
        build = json.loads(json.dumps(stored_build(codebuild_backend(environ), build_id)))
    work = tempfile.mkdtemp(prefix="pw-build-")
    outputs = []
    try:
        src = os.path.join(work, "src")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.path.join(work, "home"),
               "TMPDIR": os.path.join(work, "tmp"), "LANG": "C.UTF-8", "CODEBUILD_SRC_DIR": src,
               "CODEBUILD_BUILD_ID": build["id"], "CODEBUILD_BUILD_ARN": build["arn"],
               "CODEBUILD_BUILD_SUCCEEDING": "1", "CODEBUILD_INITIATOR": "pipewright"}
        os.makedirs(env["HOME"])
        os.makedirs(env["TMPDIR"])
        try:
            with lock:
                if build["source"].get("location"):
                    unzip_object(build["source"]["location"], src)
                os.makedirs(src, exist_ok=True)
                for secondary in build.get("secondarySources", []):
                    into = os.path.join(work, "src_" + secondary["sourceIdentifier"])
                    unzip_object(secondary["location"], into)
                    env["CODEBUILD_SRC_DIR_" + secondary["sourceIdentifier"]] = into
                for variable in build["environment"].get("environmentVariables", []):
                    kind = variable.get("type", "PLAINTEXT")
                    value = secret_value(environ, variable["value"]) if kind == "SECRETS_MANAGER" else variable["value"]
                    env[variable["name"]] = value
        except Exception as error:  # a source or secret CodeBuild could not read
            order.update(status="FAILED", phase="DOWNLOAD_SOURCE", code="CLIENT_ERROR", message=str(error))
            return
        spec = json.loads(build["source"]["buildspec"])
        exported = spec.get("env", {}).get("exported-variables", [])
        state = os.path.join(work, "state")
        lines = []
        # The install phase (the stack's prelude that fetches the inputs from their presigned
        # URLs, over HTTP from this server) before the build phase, in one shell, so that
        # variables, unsets and the directory carry over as in buildspec 0.2.
        commands = [(phase.upper(), command) for phase in ("install", "build")
                    for command in (spec["phases"].get(phase) or {}).get("commands", [])]
        for number, (phase, command) in enumerate(commands):
            lines += [f"echo {number} > {state}.current", command, "__pw_rc=$?",
                      f'if [ $__pw_rc -ne 0 ]; then echo "{number} $__pw_rc" > {state}.failed; exit $__pw_rc; fi']
        lines.append(f"env -0 > {state}.env")
        script = os.path.join(work, "script.sh")
        with open(script, "w") as file:
            file.write("\n".join(lines) + "\n")
        with lock:
            if (stored_build(codebuild_backend(environ), build_id) or {}).get("buildComplete"):
                return  # stopped (or finished by a test) before its commands began
            done = subprocess.Popen(["bash", script], cwd=src, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            RUNNING_BUILDS[build_id] = done
        try:
            done.wait(timeout=55 * 60)
        except subprocess.TimeoutExpired:
            with lock:
                end_running_build(build_id)
            order.update(status="TIMED_OUT", phase="BUILD", code="BUILD_TIMED_OUT", message="Build timed out")
            return
        with lock:
            if RUNNING_BUILDS.pop(build_id, None) is None:
                return  # StopBuild or a test's finish killed it and ended the build
        if done.returncode != 0:
            # A command that ends the shell itself (`exit`, a `${VAR:?}` error) leaves no status.
            if os.path.exists(state + ".failed"):
                failed = open(state + ".failed").read().split()
            else:
                failed = [open(state + ".current").read().strip(), str(done.returncode)]
            phase, command = commands[int(failed[0])]
            order.update(status="FAILED", phase=phase, code="COMMAND_EXECUTION_ERROR",
                         message=f"Error while executing command: {command}. Reason: exit status {failed[1]}")
            return
        values = dict(item.split("=", 1) for item in open(state + ".env").read().split("\0") if "=" in item)
        order["exported"] = {name: values.get(name, "") for name in exported}
        artifacts = spec.get("artifacts") or {}
        wanted = [(build.get("artifacts") or {}, artifacts.get("files", []))]
        for target in build.get("secondaryArtifacts", []):
            wanted.append((target, artifacts.get("secondary-artifacts", {}).get(target.get("artifactIdentifier"), {}).get("files", [])))
        for target, files in wanted:
            if target.get("type") != "S3":
                continue
            key = f'{target["path"]}/{target["name"]}'
            if not key.startswith(STAGED_OUTPUTS_PREFIX):
                # CommandsBuildRole may put objects under the staged-outputs prefix only.
                order.update(status="FAILED", phase="UPLOAD_ARTIFACTS", code="CLIENT_ERROR",
                             message=f"AccessDenied: CommandsBuildRole may not put {key}")
                return
            body = zip_files(src, files)
            if body is None:
                order.update(status="FAILED", phase="UPLOAD_ARTIFACTS", code="CLIENT_ERROR",
                             message="no matching artifact paths found")
                return
            outputs.append((target["location"], key, body))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with lock:
            RUNNING_BUILDS.pop(build_id, None)
            # A build StopBuild (or a test) ended already keeps that end.
            if not (stored_build(codebuild_backend(environ), build_id) or {}).get("buildComplete"):
                if order["status"] == "SUCCEEDED":
                    for bucket, key, body in outputs:
                        s3_backend().put_object(bucket, key, body)
                ended = Builds.finish(environ, order)
                put_build_event(environ, ended)


def put_build_event(environ, build: dict) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.events.models import events_backends

    variables = [{"name": v["name"], "value": v["value"], "type": v.get("type", "PLAINTEXT")}
                 for v in build["environment"].get("environmentVariables", [])]
    detail = {"build-status": build["buildStatus"], "project-name": build["projectName"], "build-id": build["arn"],
              "current-phase": "COMPLETED", "current-phase-context": "[]", "version": "1",
              "additional-information": {"build-complete": True, "environment": {"environment-variables": variables}}}
    events_backends[DEFAULT_ACCOUNT_ID][region_of(environ)].put_events([{
        "Source": "aws.codebuild", "DetailType": "CodeBuild Build State Change", "Detail": json.dumps(detail),
        "Resources": [build["arn"]], "EventBusName": "default"}])


def s3_signed_region(environ) -> str | None:
    """The region an S3 request is signed for: its Authorization header's credential scope,
    or a presigned URL's X-Amz-Credential; None for a request that is not S3's."""
    from urllib.parse import parse_qs

    credential = environ.get("HTTP_AUTHORIZATION", "").split("Credential=")[-1].split(",")[0]
    if "X-Amz-Credential" in environ.get("QUERY_STRING", ""):
        credential = parse_qs(environ["QUERY_STRING"]).get("X-Amz-Credential", [""])[0]
    parts = credential.split("/")
    return parts[2] if len(parts) >= 5 and parts[3] == "s3" else None


def s3_wrong_region(environ) -> tuple[bytes, str] | None:
    """S3's refusal (400) of a request to an existing bucket signed for another region,
    path-style (as every client here addresses S3), and the bucket's region. CreateBucket
    itself names its region in its body."""
    signed = s3_signed_region(environ)
    segments = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)
    if signed is None or not segments[0] or segments[0].startswith(("_strict", "moto-api")):
        return None
    creating = environ["REQUEST_METHOD"] == "PUT" and len(segments) == 1 and not environ.get("QUERY_STRING")
    bucket = s3_backend().buckets.get(segments[0])
    if creating or bucket is None or bucket.region_name == signed:
        return None
    presigned = "X-Amz-Credential" in environ.get("QUERY_STRING", "")
    code, what = (
        ("AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter")
        if presigned
        else ("AuthorizationHeaderMalformed", "The authorization header is malformed")
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{what}; the region '{signed}' is wrong; "
        f"expecting '{bucket.region_name}'</Message><Region>{bucket.region_name}</Region>"
        "<RequestId>strict</RequestId></Error>"
    ).encode("utf-8")
    return body, bucket.region_name


def s3_copy_source_changed(environ) -> bytes | None:
    """S3's refusal (412) of a CopyObject whose x-amz-copy-source-if-match is not the ETag of
    the object it names, which moto ignores."""
    from urllib.parse import unquote

    wanted = environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH")
    source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if environ["REQUEST_METHOD"] != "PUT" or not wanted or not source:
        return None
    path, _, query = source.lstrip("/").partition("?")
    bucket_name, _, key_name = unquote(path).partition("/")
    bucket = s3_backend().buckets.get(bucket_name)
    key = bucket.keys.get(key_name) if bucket is not None and "versionId=" not in query else None
    if key is None or key.etag.strip('"') == wanted.strip('"'):
        return None
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>'
        "<Message>At least one of the pre-conditions you specified did not hold</Message>"
        "<Condition>x-amz-copy-source-If-Match</Condition><RequestId>strict</RequestId></Error>"
    ).encode("utf-8")


def respond(start_response, status: int, payload: dict, content_type: str = "application/x-amz-json-1.0"):
    body = json.dumps(payload).encode("utf-8")
    reason = {200: "OK", 400: "Bad Request"}.get(status, "Error")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    if "__type" in payload:
        headers.append(("x-amzn-ErrorType", payload["__type"].split("#")[-1]))
    start_response(f"{status} {reason}", headers)
    return [body]


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    # moto parses expressions recursively: an update of a stage of 50 actions (a hundred
    # clauses) passes Python's default depth of 1000. Deeper, on thread stacks to match.
    sys.setrecursionlimit(20_000)
    threading.stack_size(256 * 1024 * 1024)
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    throttles = Throttles()
    delays = Delays()
    billing = Billing()
    codecommit = CodeCommitContents()
    builds = Builds(lock)

    def strict(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if environ.get("PATH_INFO", "") == "/_strict/delay":
            try:
                if environ["REQUEST_METHOD"] == "POST":
                    delays.add(json.loads(body))
                return respond(start_response, 200, delays.report(), "application/json")
            except (ValueError, KeyError, TypeError) as error:
                return respond(start_response, 400, {"message": str(error)}, "application/json")
        if environ.get("HTTP_X_AMZ_TARGET"):
            delays.hold(environ["HTTP_X_AMZ_TARGET"], body)
        with lock:
            if environ.get("PATH_INFO", "") == "/_strict/billing":
                if environ["REQUEST_METHOD"] == "DELETE":
                    billing.reset()
                return respond(start_response, 200, billing.report(), "application/json")
            if environ.get("PATH_INFO", "") == "/_strict/throttle":
                try:
                    if environ["REQUEST_METHOD"] == "POST":
                        throttles.add(json.loads(body))
                    return respond(start_response, 200, throttles.report(), "application/json")
                except (ValueError, KeyError, TypeError) as error:
                    return respond(start_response, 400, {"message": str(error)}, "application/json")
            if environ.get("PATH_INFO", "") == "/_strict/codebuild/finish":
                try:
                    order = json.loads(body)
                    end_running_build(order.get("id", ""))
                    build = wire(builds.finish(environ, order))
                    return respond(start_response, 200, build, "application/json")
                except (ValueError, KeyError, TypeError) as error:
                    return respond(start_response, 400, {"message": str(error)}, "application/json")
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target:
                content_type = "application/x-amz-json-1.1" if target.startswith("AWSEvents") else None
                error = throttles.take(target, body)
                request = None
                if error is not None:
                    request = json.loads(body or b"{}")
                    status, payload = THROTTLES[error](target, request)
                    return respond(start_response, status, payload, *filter(None, [content_type]))
                served = codecommit.serve(environ, target, body)
                if served is not None:
                    return respond(start_response, *served, "application/x-amz-json-1.1")
                if target.startswith("CodeBuild_20161006."):
                    request = json.loads(body or b"{}")
                    operation = target.split(".")[-1]
                    answer = None
                    if operation == "StartBuild":
                        answer = builds.start(app, environ, request)
                    elif operation == "BatchGetBuilds":
                        answer = builds.batch_get(environ, request)
                    elif operation == "StopBuild" and stored_build(codebuild_backend(environ), request.get("id", "")):
                        build = stored_build(codebuild_backend(environ), request["id"])
                        end_running_build(request["id"])
                        if not build.get("buildComplete"):
                            build = builds.finish(environ, {"id": request["id"], "phase": build.get("currentPhase")}, "STOPPED")
                        answer = (200, {"build": wire(build)})
                    if answer is not None:
                        return respond(start_response, *answer, "application/x-amz-json-1.1")
                if target.endswith((".TransactWriteItems", ".PutEvents")):
                    refused = refusal(environ, target, json.loads(body or b"{}"))
                    if refused is not None:
                        return respond(start_response, *refused, *filter(None, [content_type]))
            operation = None if target else s3_operation(environ)
            if operation is not None:
                # An object request names its resource in the path (and a copy in its source).
                named = (environ.get("PATH_INFO", "") + " " + environ.get("HTTP_X_AMZ_COPY_SOURCE", "")).encode()
                error = throttles.take(f"S3.{operation}", named)
                if error is not None:
                    status, payload = s3_error(error, environ["REQUEST_METHOD"] == "HEAD")
                    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(payload)))])
                    return [payload]
            wrong_region = None if target else s3_wrong_region(environ)
            if wrong_region is not None:
                payload, region = wrong_region
                head = environ["REQUEST_METHOD"] == "HEAD"
                start_response(
                    "400 Bad Request",
                    [
                        ("Content-Type", "application/xml"),
                        ("Content-Length", "0" if head else str(len(payload))),
                        ("x-amz-bucket-region", region),
                    ],
                )
                return [b"" if head else payload]
            if not target and (changed := s3_copy_source_changed(environ)) is not None:
                start_response("412 Precondition Failed", [("Content-Type", "application/xml"),
                                                           ("Content-Length", str(len(changed)))])
                return [changed]
            access_key = environ.get("HTTP_AUTHORIZATION", "").split("Credential=")[-1]
            metered = target.startswith(("DynamoDB_20120810.", "AWSEvents.PutEvents")) and not access_key.startswith(
                "unmetered"
            )
            if not metered:
                # Consume the body inside the lock: moto builds responses lazily in places.
                return [b"".join(app(environ, start_response))]
            request = json.loads(body or b"{}")
            touched = billing.before(environ, target, request)
            answered = {}

            def keep_status(status, headers, *rest):
                answered["status"] = status
                return start_response(status, headers, *rest)

            response = b"".join(app(environ, keep_status))
            if answered.get("status", "").startswith("200"):
                try:
                    billing.after(environ, target, request, touched, json.loads(response or b"{}"))
                except (ValueError, TypeError, KeyError):
                    pass  # a response the meter cannot read is not billed; the client still gets it
            elif answered.get("status", "").startswith("400"):
                try:
                    billing.refused(environ, target, request, touched, json.loads(response or b"{}"))
                except (ValueError, TypeError, KeyError):
                    pass
            return [response]

    # Threaded, so idle keep-alive connections never block others; the lock orders the work.
    run_simple(host, port, strict, threaded=True)


if __name__ == "__main__":
    main()
