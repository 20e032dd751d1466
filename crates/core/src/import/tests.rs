//! End-to-end tests of the template importer: text in, declarations out.

use super::*;

fn options() -> Options {
    Options { stack_name: "demo".into(), origin: "t.yaml".into(), ..Options::default() }
}

fn import(text: &str) -> Result<Vec<ImportedPipeline>, ImportError> {
    import_template(text, None, &options())
}
