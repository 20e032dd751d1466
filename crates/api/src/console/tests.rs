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
fn escaping_keeps_markup_out() {
    assert_eq!(views::esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    assert_eq!(views::url("a b/c"), "a%20b%2Fc");
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
    let caller = Caller { identity: Some("console".into()) };
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
