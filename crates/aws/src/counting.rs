//! Counts the AWS API calls the clients make, by service and operation: how the closing note's
//! "calls per action transition" is measured, and what the metrics log.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// An interceptor that counts calls, and the attempts the SDK's retries make of them; clones
/// share the counts.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    attempts: Arc<Mutex<BTreeMap<String, u64>>>,
}

fn count(counts: &Mutex<BTreeMap<String, u64>>, cfg: &ConfigBag) {
    if let Some(metadata) = cfg.load::<Metadata>() {
        let name = format!("{}.{}", metadata.service(), metadata.name());
        if let Ok(mut counts) = counts.lock() {
            *counts.entry(name).or_default() += 1;
        }
    }
}

impl CallCounter {
    /// `Service.Operation` → calls so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// `Service.Operation` → requests sent so far: a call the SDK retried (throttling, a
    /// transient error) counts once per attempt.
    pub fn attempts(&self) -> BTreeMap<String, u64> {
        self.attempts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        for counts in [&self.counts, &self.attempts] {
            if let Ok(mut counts) = counts.lock() {
                counts.clear();
            }
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Not `read_before_execution`: a client-level interceptor runs that hook before the
    // operation's configuration (which holds its `Metadata`) is applied.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        count(&self.counts, cfg);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        count(&self.attempts, cfg);
        Ok(())
    }
}
