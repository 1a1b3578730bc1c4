//! How a caller got in: a verified JWT, the keyed E2E bypass, a public route, or a
//! verified client certificate. One enum for the `X-Auth-Method` header, the assertion's
//! claim, `explain`, the log line's `method` field and the `method` metric label.

/// How a caller got in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Jwt,
    E2eBypass,
    Anonymous,
    /// A verified client certificate (`identity.user_from = "client_cert"`).
    ClientCert,
}

impl AuthMethod {
    /// Every method, each at its [`AuthMethod::index`].
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::Jwt,
        AuthMethod::E2eBypass,
        AuthMethod::Anonymous,
        AuthMethod::ClientCert,
    ];

    /// The method's place in [`AuthMethod::ALL`]: a table indexed by method.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The `X-Auth-Method` header value.
    pub fn header_value(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::E2eBypass => "e2e-bypass",
            AuthMethod::Anonymous => "anonymous",
            AuthMethod::ClientCert => "client-cert",
        }
    }

    /// The `method` metric label and log field.
    pub fn label(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::E2eBypass => "e2e_bypass",
            AuthMethod::Anonymous => "anonymous",
            AuthMethod::ClientCert => "client_cert",
        }
    }
}
