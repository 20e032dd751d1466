use super::*;

#[test]
fn forms_decode_percent_and_plus() {
    let fields = form_pairs(b"summary=Looks+good%21&token=a%2Fb&empty=");
    assert_eq!(field(&fields, "summary"), "Looks good!");
    assert_eq!(field(&fields, "token"), "a/b");
    assert_eq!(field(&fields, "empty"), "");
    assert_eq!(field(&fields, "missing"), "");
    assert_eq!(pipeline_path("/pipelines/my%20pipe"), Some(("my pipe".into(), vec![])));
    assert_eq!(pipeline_path("/pipelines/web/%ff"), None, "not UTF-8");
    assert_eq!(
        pipeline_path("/pipelines/web/executions/abc"),
        Some(("web".into(), vec!["executions".into(), "abc".into()]))
    );
    assert_eq!(pipeline_path("/elsewhere"), None);
}

#[test]
fn text_is_escaped_and_control_characters_are_shown() {
    use maud::Render as _;
    let shown = views::Shown("<a href=\"x\">'&'</a>\u{1b}[31m\u{0}\u{7f}\u{9b}\u{202e}\tok\n").render().into_string();
    assert_eq!(
        shown,
        "&lt;a href=&quot;x&quot;&gt;'&amp;'&lt;/a&gt;\u{241b}[31m\u{2400}\u{2421}\u{fffd}\u{fffd}\tok\n"
    );
}

#[test]
fn only_web_urls_become_links() {
    for link in ["https://example.com/review?x=1", "HTTP://EXAMPLE.COM", "http://127.0.0.1:8080/"] {
        assert_eq!(views::safe_link(link), Some(link));
    }
    for link in [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "httpx://example.com",
        "http:/example.com",
        "//evil.example",
        "https://example.com/\u{0}",
        "https://exa mple.com",
        "",
    ] {
        assert_eq!(views::safe_link(link), None, "{link:?}");
    }
}

#[test]
fn sessions_are_signed_and_expire() {
    let auth = ConsoleAuth::new(
        Authenticator::Keys([("KEY".to_string(), "secret-secret".to_string())].into()),
        true,
        b"csrf".to_vec(),
    );
    let expires = 1_000;
    let cookie = format!("{SESSION_COOKIE}=KEY.{expires}.{}", session_mac("secret-secret", "KEY", expires));
    let headers = vec![("Cookie".to_string(), cookie)];
    let request = HttpRequest { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
    assert_eq!(auth.caller(&request, 999).and_then(|c| c.identity), Some("KEY".to_string()));
    assert!(auth.caller(&request, 1_000).is_none(), "expired");
    let forged = vec![("Cookie".to_string(), format!("{SESSION_COOKIE}=KEY.{expires}.{}", "0".repeat(64)))];
    let request = HttpRequest { method: "GET", path: "/", query: "", headers: &forged, body: b"" };
    assert!(auth.caller(&request, 999).is_none(), "forged");
    let open = ConsoleAuth::new(Authenticator::Open, false, b"csrf".to_vec());
    let none: Vec<(String, String)> = Vec::new();
    let request = HttpRequest { method: "GET", path: "/", query: "", headers: &none, body: b"" };
    assert!(open.caller(&request, 0).is_some(), "an open console needs no session");
}

#[test]
fn form_tokens_are_the_servers_mac_of_the_cookie() {
    let caller = Caller::named("console");
    let auth = ConsoleAuth::new(Authenticator::Open, false, b"server secret".to_vec());
    let nonce = "0123456789abcdef0123456789abcdef";
    let token = auth.form_token(nonce, &caller);
    assert_ne!(token, nonce, "a token is not the cookie itself");
    assert_eq!(token, auth.form_token(nonce, &caller), "stable for one cookie");
    assert_ne!(token, auth.form_token("fedcba9876543210fedcba9876543210", &caller), "bound to the cookie");
    let other_server = ConsoleAuth::new(Authenticator::Open, false, b"another secret".to_vec());
    assert_ne!(token, other_server.form_token(nonce, &caller), "bound to the server's secret");
    let keys = Authenticator::Keys([("KEY".to_string(), "s".to_string())].into());
    assert_eq!(ConsoleAuth::secret_from_keys(&keys), ConsoleAuth::secret_from_keys(&keys.clone()));
    assert!(ConsoleAuth::secret_from_keys(&Authenticator::Open).is_none());
}

/// The approval-callback function's pages (a mail link's review, its refusals and outcome)
/// are the console's views too: hostile text in them is escaped.
#[test]
fn the_approval_links_pages_escape_hostile_text() {
    const HOSTILE: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>\u{1b}[2J";
    let review = |link: &str| views::ApprovalReview {
        pipeline: "p".into(),
        stage: HOSTILE.into(),
        action: "a".into(),
        execution_id: "e".into(),
        facts: vec![("Revision", HOSTILE.into()), ("Comments", HOSTILE.into())],
        link: Some(link.into()),
    };
    let form = views::ApprovalForm {
        action: None,
        hidden: vec![("token", format!("t{HOSTILE}"))],
        decision_field: "decision",
        chosen: Some("Approved".into()),
    };
    let page = views::approval(views::Frame::Standalone, &review("javascript:alert(3)"), Some(&form));
    let notice = views::notice(HOSTILE, HOSTILE);
    for html in [&page, &notice] {
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("\"'>"), "{html}");
        assert!(!html.contains('\u{1b}') && html.contains("&lt;script&gt;") && html.contains("\u{241b}[2J"), "{html}");
        assert!(html.contains("<style>") && !html.contains("/static/"), "standalone: its style inline: {html}");
    }
    assert!(page.contains(r#"<span class="external-link">javascript:alert(3)</span>"#), "{page}");
    assert!(page.contains(r#"<input type="hidden" name="token" value="t&lt;script&gt;"#), "{page}");
    assert!(page.contains(r#"<button class="primary chosen" name="decision" value="Approved">"#), "{page}");
    let linked = views::approval(views::Frame::Standalone, &review("https://example.com/r?a=1&b=2"), None);
    assert!(
        linked.contains(
            r#"<a class="external-link" href="https://example.com/r?a=1&amp;b=2" rel="noopener noreferrer">"#
        ),
        "{linked}"
    );
    assert!(linked.contains("no longer waiting"), "without a form, why: {linked}");
}

/// An automatic rollback on the history page: marked, its target linked, its trigger named
/// with the execution whose failure started it; a standard execution is not marked.
#[test]
fn the_history_marks_an_automated_rollback_and_links_its_target() {
    use pipewright_core::engine::{ExecutionStatus, TriggerType};
    use pipewright_core::queries::{ExecutionSummaryView, ExecutionTriggerView, RollbackMetadataView};
    let (target, failed, rollback) = (
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        "33333333-3333-4333-8333-333333333333",
    );
    let summary =
        |id: &str, trigger_type, detail: &str, execution_type, rollback_to: Option<&str>| ExecutionSummaryView {
            pipeline_execution_id: id.to_string(),
            status: ExecutionStatus::Succeeded,
            status_summary: None,
            start_time: 1_800_000_000.0,
            last_update_time: 1_800_000_060.0,
            source_revisions: Vec::new(),
            trigger: ExecutionTriggerView { trigger_type, trigger_detail: Some(detail.to_string()) },
            stop_trigger: None,
            execution_mode: "SUPERSEDED",
            execution_type,
            rollback_metadata: rollback_to
                .map(|t| RollbackMetadataView { rollback_target_pipeline_execution_id: t.to_string() }),
        };
    let page = views::history(
        "web",
        &[
            summary(rollback, TriggerType::AutomatedRollback, failed, "ROLLBACK", Some(target)),
            summary(failed, TriggerType::StartPipelineExecution, "console", "STANDARD", None),
        ],
    );
    assert!(
        page.contains(&format!(
            r#"<tr class="execution" data-execution="{rollback}" data-status="Succeeded" data-type="ROLLBACK">"#
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            r#"<span class="tag rollback">Rollback</span> to <a class="rollback-target" href="/pipelines/web/executions/{target}">11111111</a>"#
        )),
        "{page}"
    );
    assert!(page.contains(&format!("AutomatedRollback {failed}")), "the trigger: {page}");
    assert_eq!(page.matches("tag rollback").count(), 1, "{page}");
}
