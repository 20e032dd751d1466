//! The EventBridge envelope around a state change, as CodePipeline emits it
//! (docs/reference/codepipeline.md §7.1) but with Pipewright's own `source`, so an existing rule
//! ports by changing only `source`.

use serde_json::{Value, json};

use crate::engine::StateChange;
use crate::ids;

/// The `source` of every event Pipewright publishes.
pub const SOURCE: &str = "pipewright";

/// The full event: `version`, `id` (derived from the effect id, so a re-publish is the same
/// event), `detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`.
pub fn state_change_event(change: &StateChange, account: &str, region: &str) -> Value {
    json!({
        "version": "0",
        "id": ids::uuid_from(&["event", &change.id]),
        "detail-type": change.detail_type.as_str(),
        "source": SOURCE,
        "account": account,
        "time": change.time.to_rfc3339_seconds(),
        "region": region,
        "resources": [format!("arn:aws:codepipeline:{region}:{account}:{}", change.detail.pipeline)],
        "detail": change.detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{DetailType, StateChangeDetail};
    use crate::time::Timestamp;

    #[test]
    fn the_envelope_has_eventbridge_s_fields() {
        let change = StateChange {
            id: "e/1/STARTED".into(),
            time: Timestamp::from_millis(1_579_903_387_000),
            detail_type: DetailType::Pipeline,
            detail: StateChangeDetail::new("myPipeline", "e", "STARTED", 1, 1),
        };
        let event = state_change_event(&change, "123456789012", "us-east-1");
        assert_eq!(event["detail-type"], "CodePipeline Pipeline Execution State Change");
        assert_eq!(event["source"], "pipewright");
        assert_eq!(event["time"], "2020-01-24T22:03:07Z");
        assert_eq!(event["resources"][0], "arn:aws:codepipeline:us-east-1:123456789012:myPipeline");
        assert_eq!(event["detail"]["execution-id"], "e");
        assert_eq!(event["id"], state_change_event(&change, "123456789012", "us-east-1")["id"], "the id is stable");
    }
}
