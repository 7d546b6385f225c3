//! What the `backend "s3"` block may name, checked the same way by the configuration
//! (located diagnostics) and by the backend: bucket and key names, the region, and the
//! endpoint (https, or plain http to a loopback address only). Pure functions.

/// The longest key accepted: the lock, journal and version objects add a suffix, and S3
/// keys are at most 1024 bytes.
pub const MAX_KEY: usize = 900;

/// An S3 bucket name: 3 to 63 of `a-z 0-9 . -`, starting and ending with a letter or digit,
/// no `..`, not an IP address.
pub fn check_bucket(name: &str) -> Result<(), String> {
    let ok_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let edges = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len()) {
        return Err("a bucket name has 3 to 63 characters".into());
    }
    if !ok_chars {
        return Err("a bucket name has only lower-case letters, digits, `.` and `-`".into());
    }
    if !edges(name.chars().next()) || !edges(name.chars().last()) || name.contains("..") {
        return Err("a bucket name starts and ends with a letter or digit and has no `..`".into());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("a bucket name is not an IP address".into());
    }
    Ok(())
}

/// The state object's key: `/`-separated segments of `A-Z a-z 0-9 ! - _ . * ' ( ) =`
/// (S3's safe characters), no empty, `.` or `..` segment, no leading or trailing `/`.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(format!("a key has 1 to {MAX_KEY} characters"));
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()=".contains(c);
    for segment in key.split('/') {
        if segment.is_empty() {
            return Err("a key has no empty segment (no leading, trailing or double `/`)".into());
        }
        if segment == "." || segment == ".." {
            return Err("a key has no `.` or `..` segment".into());
        }
        if !segment.chars().all(safe) {
            return Err("a key has only letters, digits, `/` and `! - _ . * ' ( ) =`".into());
        }
    }
    Ok(())
}

/// An AWS region name (`us-east-1`, `eu-central-1`, a store's own like `garage`).
pub fn check_region(region: &str) -> Result<(), String> {
    let ok = !region.is_empty()
        && region.len() <= 32
        && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(()) } else { Err("a region has 1 to 32 of lower-case letters, digits and `-`".into()) }
}

/// The endpoint URL, normalized (no trailing `/`). `https://` anywhere; `http://` only to
/// a loopback address (`127.0.0.1`, `[::1]`, `localhost`), since it would send the
/// request signatures and the state in clear. No user, password, path, query or fragment.
pub fn check_endpoint(endpoint: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| format!("it is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it holds a user or password; credentials come from AWS_* variables only".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !matches!(url.path(), "" | "/") {
        return Err("it has a path, query or fragment; give only scheme://host[:port]".into());
    }
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => {}
        "http" if host == "localhost" || crate::endpoint::is_loopback_host(host) => {}
        "http" => {
            return Err(format!(
                "plain http sends the state in clear, so it is allowed only to a loopback address, and {host} is not one (use https://)"
            ));
        }
        _ => return Err("the scheme must be https (or http to a loopback address)".into()),
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keys_regions_and_endpoints() {
        for ok in ["tokenform", "my.state-bucket-1", "abc"] {
            assert!(check_bucket(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Upper", "-lead", "trail-", "a..b", "192.168.1.1", "under_score", &"a".repeat(64)] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
        for ok in ["tokenform.state.json", "teams/prod/state.json", "a=b/(c)!'*"] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/lead", "trail/", "a//b", "a/../b", "./x", "sp ace", "é", "a\nb", &"k".repeat(901)]
        {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_region("eu-central-1").is_ok());
        assert!(check_region("EU").is_err());
        assert!(check_region("").is_err());
        assert_eq!(check_endpoint("https://s3.example.com/").unwrap(), "https://s3.example.com");
        assert_eq!(check_endpoint("http://127.0.0.1:8333").unwrap(), "http://127.0.0.1:8333");
        assert!(check_endpoint("http://[::1]:9000").is_ok());
        assert!(check_endpoint("http://localhost:9000").is_ok());
        for bad in [
            "http://s3.example.com",
            "http://10.0.0.1:9000",
            "ftp://127.0.0.1",
            "https://key:secret@s3.example.com",
            "https://s3.example.com/bucket",
            "https://s3.example.com?x=1",
            "s3.example.com",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
        let why = check_endpoint("https://AKIA:wJalr@s3.example.com").unwrap_err();
        assert!(!why.contains("wJalr"), "{why}");
    }
}
