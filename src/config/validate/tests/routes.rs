//! Routes.

use super::*;

#[test]
fn implicit_catch_all_route_is_appended() {
    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/ws\"\nauth = \"optional\"\nclaims = {{ scope = \"chat\" }}"
    ));
    assert_eq!(config.routes.len(), 2);
    assert_eq!(config.routes[0].auth, RouteAuth::Optional);
    assert_eq!(
        config.routes[0].claims,
        [("scope".to_owned(), "chat".to_owned())]
    );
    let implicit = &config.routes[1];
    assert_eq!(
        (implicit.path.as_str(), implicit.auth, implicit.implicit),
        ("/", RouteAuth::Required, true)
    );
    assert_eq!(config.first_route("/api/x").unwrap().path, "/");

    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/\"\nauth = \"none\""
    ));
    assert_eq!(config.routes.len(), 2);
    assert!(!config.routes[1].implicit);
}

#[test]
fn route_problems_are_named() {
    let errors = problems(
        "[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/ws/chat\"\n[[routes]]\npath = \"api\"\n[[routes]]\npath = \"/x\"\nauth = \"maybe\"\n[[routes]]\npath = \"/y\"\nauth = \"none\"\nclaims = { a = \"b\" }\n[[routes]]\nauth = \"none\"",
    );
    assert_has(&errors, "routes[1].path", "duplicates routes[0]");
    assert_has(&errors, "routes[2].path", "never reached");
    assert_has(&errors, "routes[3].path", "must start with \"/\"");
    assert_has(&errors, "routes[4].auth", "\"maybe\"");
    assert_has(&errors, "routes[5].claims", "auth = \"none\"");
    assert_has(&errors, "routes[6].path", "is required");
}

#[test]
fn routes_needing_auth_need_an_issuer_or_the_bypass() {
    let no_issuer = "environment = \"test\"\n[upstream]\nurl = \"ws://u\"\n[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/open\"\nauth = \"none\"";
    let errors = parse_env(no_issuer, &[]).unwrap_err().errors;
    assert_has(
        &errors,
        "routes[0].auth",
        "route \"/ws\" needs authentication",
    );
    assert_has(&errors, "routes", "implicit catch-all");
    assert!(!errors.iter().any(|e| e.key == "routes[1].auth"));

    let with_bypass = format!("{no_issuer}\n{BYPASS}");
    parse_env(&with_bypass, &[("E2E_KEY", KEY)]).unwrap();
}

#[test]
fn route_matching_respects_segments() {
    let route = |path: &str| RouteConfig {
        path: path.to_owned(),
        auth: RouteAuth::Required,
        claims: Vec::new(),
        client_cert_required: false,
        implicit: false,
    };
    let ws = route("/ws");
    assert!(ws.matches("/ws"));
    assert!(ws.matches("/ws/room/1"));
    assert!(!ws.matches("/wsx"));
    assert!(!ws.matches("/w"));
    assert!(!ws.matches("/api/ws"));
    let dir = route("/api/");
    assert!(dir.matches("/api/x"));
    assert!(!dir.matches("/api"));
    assert!(route("/").matches("/anything"));

    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/ws\"\nauth = \"none\""
    ));
    assert_eq!(config.first_route("/ws/1").unwrap().auth, RouteAuth::None);
    assert_eq!(
        config.first_route("/wsx").unwrap().auth,
        RouteAuth::Required
    );
}

#[test]
fn a_child_route_stricter_than_its_parent_is_warned_about_with_a_bypass_example() {
    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/api/admin\"\n\
         [[routes]]\npath = \"/api\"\nauth = \"optional\"\n[[routes]]\npath = \"/\"\nauth = \"none\""
    ));
    let about = |child: &str| {
        config
            .warnings
            .iter()
            .find(|w| w.starts_with(&format!("route {child:?}")))
            .cloned()
            .unwrap_or_else(|| panic!("no warning about {child}: {:?}", config.warnings))
    };
    let ws = about("/ws");
    assert!(ws.contains("stricter than \"/\" (auth = none)"), "{ws}");
    assert!(ws.contains("\"/w%73\" is judged as \"/ws\""), "{ws}");
    assert!(ws.contains("\"/WS\""), "{ws}");
    let admin = about("/api/admin");
    assert!(
        admin.contains("stricter than \"/api\" (auth = optional)"),
        "{admin}"
    );
    let api = about("/api");
    assert!(api.contains("stricter than \"/\""), "{api}");

    // A weaker child, or a parent as strict, is no bypass shape.
    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/public\"\nauth = \"none\"\n[[routes]]\npath = \"/ws\""
    ));
    assert!(
        !config.warnings.iter().any(|w| w.contains("stricter")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn route_paths_are_written_in_normalized_form() {
    let errors = problems(
        "[[routes]]\npath = \"/w%73\"\n[[routes]]\npath = \"/a/../b\"\n[[routes]]\npath = \"/x%2Fy\"",
    );
    assert_has(&errors, "routes[0].path", "write \"/ws\"");
    assert_has(&errors, "routes[1].path", "refuses to route");
    assert_has(&errors, "routes[2].path", "refuses to route");
}

#[test]
fn a_path_is_judged_by_the_stricter_of_its_exact_and_case_insensitive_routes() {
    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/public\"\nauth = \"none\"\n\
         [[routes]]\npath = \"/api/admin\"\nclaims = {{ role = \"admin\" }}\n[[routes]]\npath = \"/api\"\n\
         [[routes]]\npath = \"/\"\nauth = \"none\""
    ));
    let route = |path: &str| config.route(config.route_id(path)).path.as_str();
    // An upstream that ignores case serves these as the stricter route: so does wsgate.
    assert_eq!(route("/WS"), "/ws");
    assert_eq!(route("/Ws/room"), "/ws");
    assert_eq!(route("/API/Admin/x"), "/api/admin");
    // A weaker route in another case never lowers the exact match.
    assert_eq!(route("/PUBLIC"), "/");
    assert_eq!(route("/public"), "/public");
    assert_eq!(route("/wsx"), "/");
    assert_eq!(route("/WSX"), "/");
    assert_eq!(route("/ws"), "/ws");
}

#[test]
fn a_route_written_with_a_trailing_slash_also_matches_the_bare_path() {
    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/admin/\"\n[[routes]]\npath = \"/\"\nauth = \"none\""
    ));
    let route = |path: &str| config.route(config.route_id(path)).path.as_str();
    assert_eq!(route("/admin"), "/admin/");
    assert_eq!(route("/admin/x"), "/admin/");
    assert_eq!(route("/ADMIN"), "/admin/");
    assert_eq!(route("/adminx"), "/");
}
