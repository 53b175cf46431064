/// The tenant used when a request carries no `X-Scope-OrgID` header, as in
/// Loki's single-tenant mode.
pub const DEFAULT_TENANT: &str = "fake";

/// Longest tenant id accepted (Loki's limit).
pub const MAX_TENANT_LEN: usize = 150;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantError {
    #[error("tenant id is empty")]
    Empty,
    #[error("tenant id is longer than {MAX_TENANT_LEN} bytes")]
    TooLong,
    #[error("tenant id {0:?} is not allowed")]
    Reserved(String),
    #[error("tenant id contains unsupported character {0:?}")]
    BadChar(char),
}

/// Checks a tenant id with Loki's rules: 1 to 150 characters out of
/// `[a-zA-Z0-9!-_.*'()]`, and neither "." nor "..". The id becomes a directory
/// name, so these rules also keep it a safe path component.
pub fn validate_tenant(tenant: &str) -> Result<(), TenantError> {
    if tenant.is_empty() {
        return Err(TenantError::Empty);
    }
    if tenant.len() > MAX_TENANT_LEN {
        return Err(TenantError::TooLong);
    }
    if tenant == "." || tenant == ".." {
        return Err(TenantError::Reserved(tenant.to_string()));
    }
    for c in tenant.chars() {
        let ok = c.is_ascii_alphanumeric()
            || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')');
        if !ok {
            return Err(TenantError::BadChar(c));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_rules() {
        let check =
            |tenant: &str, ok: bool| assert_eq!(validate_tenant(tenant).is_ok(), ok, "{tenant}");
        check("fake", true);
        check("team-a_1.prod", true);
        check("", false);
        check(".", false);
        check("..", false);
        check("a/b", false);
        check(&"x".repeat(151), false);
    }
}
