//! Which certificate authorities HTTPS trusts, for every HTTP client of the tool, and what a
//! refused server certificate means in words a user can act on.
//!
//! Trusted: the platform's certificate store, plus the PEM certificates named by
//! `SSL_CERT_FILE` (one file) and `SSL_CERT_DIR` (folders, separated as `PATH` is), as uv,
//! pip and OpenSSL read them; the exact rule and its sources are in `docs/tls.md`. The store
//! is read once per process. This module knows nothing of indexes or forges: it hands each
//! agent builder a [`ureq::tls::TlsConfig`] and turns a transport error into a message.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::OnceLock;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

const FILE_VAR: &str = "SSL_CERT_FILE";
const DIR_VAR: &str = "SSL_CERT_DIR";

/// The trust every agent uses: build agents with `.tls_config(tls::config())`.
pub fn config() -> TlsConfig {
    TlsConfig::builder()
        .root_certs(store().roots.clone())
        .build()
}

/// Whether a request failed because the server's certificate was refused. Such a failure is
/// not transient: the next try meets the same certificate.
pub fn is_certificate_error(error: &ureq::Error) -> bool {
    certificate_error(error).is_some()
}

/// Why a request to `url` failed, for a message: ureq's words, or, when the server's
/// certificate was refused, what was trusted and what to set. Callers still redact the text.
pub fn explain(error: &ureq::Error, url: &str) -> String {
    let Some(refused) = certificate_error(error) else {
        return error.to_string();
    };
    let store = store();
    if let Some(problem) = &store.problem {
        return problem.clone();
    }
    let origin = origin(url);
    let detail = format!("invalid peer certificate: {refused:?}");
    use rustls::CertificateError as E;
    match refused {
        E::UnknownIssuer | E::BadSignature | E::UnknownRevocationStatus => {
            if store.extra.is_empty() {
                format!(
                    "the certificate of `{origin}` is not trusted by this machine's certificate \
                     store ({detail}): if a proxy or a private CA signs it, set `{FILE_VAR}` to a \
                     PEM file with that CA (or `{DIR_VAR}` to a folder of them)"
                )
            } else {
                format!(
                    "the certificate of `{origin}` is not trusted by this machine's certificate \
                     store nor by {} ({detail}): add the CA that signs it there",
                    store.extra.join(" and ")
                )
            }
        }
        E::Expired | E::ExpiredContext { .. } | E::NotValidYet | E::NotValidYetContext { .. } => {
            format!(
                "the certificate of `{origin}` is outside its validity period ({detail}): \
                 check this machine's clock"
            )
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => format!(
            "the certificate of `{origin}` is not issued for that host name ({detail}): use the \
             host name the server's certificate names"
        ),
        _ => format!("the certificate of `{origin}` was refused ({detail})"),
    }
}

fn certificate_error(error: &ureq::Error) -> Option<&rustls::CertificateError> {
    // ureq hands rustls's handshake failures on inside an `io::Error`; see `connect` in
    // https://github.com/algesten/ureq/blob/main/src/tls/rustls.rs
    let rustls_error = match error {
        ureq::Error::Rustls(e) => e,
        ureq::Error::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    match rustls_error {
        rustls::Error::InvalidCertificate(e) => Some(e),
        _ => None,
    }
}

/// `scheme://host[:port]/` of a URL, without any `user:password@`: the URL's origin
/// (https://url.spec.whatwg.org/#origin). A URL that does not parse is shown as "the server".
fn origin(url: &str) -> String {
    match url::Url::parse(url).map(|u| u.origin()) {
        Ok(origin) if origin.is_tuple() => format!("{}/", origin.ascii_serialization()),
        _ => "the server".into(),
    }
}

struct Store {
    roots: RootCerts,
    /// What the variables add, as shown in messages: "`SSL_CERT_FILE` (`/path`)".
    extra: Vec<String>,
    /// Why the variables could not be used; HTTPS then trusts nothing, so that a mistyped
    /// path is reported instead of silently ignored.
    problem: Option<String>,
}

fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let file = std::env::var_os(FILE_VAR).filter(|v| !v.is_empty());
        let dirs = std::env::var_os(DIR_VAR).filter(|v| !v.is_empty());
        load(file.as_deref(), dirs.as_deref())
    })
}

fn load(file: Option<&OsStr>, dirs: Option<&OsStr>) -> Store {
    let mut extra = Vec::new();
    if let Some(file) = file {
        extra.push(format!("`{FILE_VAR}` (`{}`)", Path::new(file).display()));
    }
    if let Some(dirs) = dirs {
        extra.push(format!("`{DIR_VAR}` (`{}`)", Path::new(dirs).display()));
    }
    let named = match from_variables(file, dirs) {
        Ok(certs) => certs,
        Err(problem) => {
            return Store {
                roots: RootCerts::Specific(Default::default()),
                extra,
                problem: Some(problem),
            }
        }
    };
    let platform = platform();
    if platform.is_empty() && named.is_empty() {
        // No readable platform store (a bare container) and nothing from the variables: the
        // Mozilla roots bundled with ureq, as before this module existed.
        return Store {
            roots: RootCerts::WebPki,
            extra,
            problem: None,
        };
    }
    let mut all: Vec<Vec<u8>> = platform.into_iter().chain(named).collect();
    all.sort_unstable();
    all.dedup();
    Store {
        roots: all
            .iter()
            .map(|der| Certificate::from_der(der).to_owned())
            .into(),
        extra,
        problem: None,
    }
}

/// The platform's certificates (DER). `rustls-native-certs` reads the variables *instead of*
/// the platform store when either is present, so on Linux and the BSDs the distribution's
/// folders are read directly; on macOS and Windows that crate has no other way into the
/// system store, so with a variable present the variables' certificates stand alone there,
/// as in uv.
fn platform() -> Vec<Vec<u8>> {
    let certs = if cfg!(all(unix, not(target_os = "macos"))) {
        openssl_probe::candidate_cert_dirs()
            .flat_map(|dir| rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs)
            .collect()
    } else if std::env::var_os(FILE_VAR).is_some() || std::env::var_os(DIR_VAR).is_some() {
        Vec::new()
    } else {
        rustls_native_certs::load_native_certs().certs
    };
    certs.into_iter().map(|c| c.as_ref().to_vec()).collect()
}

/// The certificates `SSL_CERT_FILE` and `SSL_CERT_DIR` name (DER), or what is wrong with them.
fn from_variables(
    file: Option<&OsStr>,
    dirs: Option<&OsStr>,
) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut certs = Vec::new();
    if let Some(file) = file {
        let path = Path::new(file);
        let unusable = |why: String| {
            format!(
                "`{FILE_VAR}` names `{}`, {why}: set it to a PEM file of CA certificates, or \
                 unset it",
                path.display()
            )
        };
        if path.is_dir() {
            return Err(unusable(format!(
                "which is a folder (`{DIR_VAR}` takes folders)"
            )));
        }
        let bytes =
            std::fs::read(path).map_err(|e| unusable(format!("which cannot be read ({e})")))?;
        let found = pem_certificates(&bytes)
            .map_err(|e| unusable(format!("which is not valid PEM ({e})")))?;
        if found.is_empty() {
            return Err(unusable("which holds no PEM certificate".into()));
        }
        certs.extend(found);
    }
    if let Some(dirs) = dirs {
        for dir in std::env::split_paths(dirs) {
            if dir.as_os_str().is_empty() {
                continue;
            }
            let entries = std::fs::read_dir(&dir).map_err(|e| {
                format!(
                    "`{DIR_VAR}` names `{}`, which cannot be read as a folder ({e}): set it to \
                     folders of PEM files, separated by `{}`, or unset it",
                    dir.display(),
                    separator()
                )
            })?;
            // As OpenSSL and uv do, every regular file is tried (hashed names like
            // `5ed36f99.0` as well as `*.pem`), and files that hold no certificate are skipped.
            for entry in entries.flatten() {
                let path = entry.path();
                if !path.is_file() {
                    continue;
                }
                if let Ok(bytes) = std::fs::read(&path) {
                    certs.extend(pem_certificates(&bytes).unwrap_or_default());
                }
            }
        }
    }
    Ok(certs)
}

/// Every certificate in PEM text (DER each); other sections (keys, text) are skipped.
fn pem_certificates(bytes: &[u8]) -> std::result::Result<Vec<Vec<u8>>, ureq::Error> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(bytes) {
        if let PemItem::Certificate(cert) = item? {
            certs.push(cert.der().to_vec());
        }
    }
    Ok(certs)
}

fn separator() -> char {
    if cfg!(windows) {
        ';'
    } else {
        ':'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(value: &str) -> std::ffi::OsString {
        std::ffi::OsString::from(value)
    }

    const CA_ONE: &str = "-----BEGIN CERTIFICATE-----
MIIBlDCCATugAwIBAgIUC5L44+0S7F3T4mQgcrWVU4czRNcwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUdHdvc3RhZ2UgdGVzdCBDQSBvbmUwIBcNMjYxMTI1MTQxNDQz
WhgPMjEyNjExMDExNDE0NDNaMB8xHTAbBgNVBAMMFHR3b3N0YWdlIHRlc3QgQ0Eg
b25lMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUSrSDuq3UlkKbp8oTheh2l/z
KA04VEfKitaOYJuxF1vRKHvHs2ZTe+hhKMLKLBWG9S4MZAMH45jkcU+slU5weqNT
MFEwHQYDVR0OBBYEFAgkLHtkCf07cX4Ks71LjcOXBTebMB8GA1UdIwQYMBaAFAgk
LHtkCf07cX4Ks71LjcOXBTebMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
RwAwRAIgWSvrjjRl/XlvALG7zxRMUy8QE9cmlXGTSk2ExLPoPkICIAUlSUdE4tan
m/fZSV5b0KteEiMmAvMEBrQ7vv36uzdS
-----END CERTIFICATE-----
";

    const CA_TWO: &str = "-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUY21x3nRbt4a0bmfhBCw6yIZ1q2gwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUdHdvc3RhZ2UgdGVzdCBDQSB0d28wIBcNMjYxMTI1MTQxNDQz
WhgPMjEyNjExMDExNDE0NDNaMB8xHTAbBgNVBAMMFHR3b3N0YWdlIHRlc3QgQ0Eg
dHdvMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwqD3MmtWMn/6NwNoX34wyiuz
p0eX6YZN6NrjBG6Ms17vjr8197qhne/yhrEvlh4lNK4lFdqczWQzmAgXyJHflKNT
MFEwHQYDVR0OBBYEFI6jmiwa8g4xaUVxQZbfa4mn+M5jMB8GA1UdIwQYMBaAFI6j
miwa8g4xaUVxQZbfa4mn+M5jMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SAAwRQIhAPQp3mOWF/PEkxtVzKLgMcMSt4R8/j6F0QSWW9Blipx+AiAWjBNn6GKD
Lb/tCCfIBNICMtZvMIJdjQoZObgVWU7zDg==
-----END CERTIFICATE-----
";

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("twostage-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn der(pem: &str) -> Vec<u8> {
        pem_certificates(pem.as_bytes()).unwrap().remove(0)
    }

    fn roots(store: &Store) -> Vec<Vec<u8>> {
        match &store.roots {
            RootCerts::Specific(certs) => certs.iter().map(|c| c.der().to_vec()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_bundle_gives_every_certificate_and_skips_keys_and_text() {
        let dir = scratch("bundle");
        let bundle = dir.join("bundle.pem");
        let text = format!(
            "corporate CA, issued 2026\n{CA_ONE}\n-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n{CA_TWO}"
        );
        std::fs::write(&bundle, text).unwrap();
        let certs = from_variables(Some(bundle.as_os_str()), None).unwrap();
        assert_eq!(certs, vec![der(CA_ONE), der(CA_TWO)]);
    }

    #[test]
    fn a_bad_cert_file_names_the_variable_and_the_path() {
        let dir = scratch("bad-file");
        let missing = dir.join("missing.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for (path, why) in [
            (&missing, "cannot be read"),
            (&empty, "holds no PEM certificate"),
            (&broken, "is not valid PEM"),
            (&dir, "is a folder"),
        ] {
            let error = from_variables(Some(path.as_os_str()), None).unwrap_err();
            assert!(
                error.starts_with(&format!("`SSL_CERT_FILE` names `{}`", path.display())),
                "{error}"
            );
            assert!(error.contains(why), "{error}");
            // HTTPS then trusts nothing, and the reason is kept for the first refused request.
            let store = load(Some(path.as_os_str()), None);
            assert!(roots(&store).is_empty());
            assert_eq!(store.problem.as_deref(), Some(error.as_str()));
        }
    }

    #[test]
    fn cert_dirs_are_a_list_of_folders_whose_files_are_all_tried() {
        let (a, b) = (scratch("dir-a"), scratch("dir-b"));
        std::fs::write(a.join("5ed36f99.0"), CA_ONE).unwrap();
        std::fs::write(a.join("README"), "not a certificate").unwrap();
        std::fs::write(
            a.join("key.pem"),
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        std::fs::create_dir(a.join("nested")).unwrap();
        std::fs::write(a.join("nested/ignored.pem"), CA_TWO).unwrap();
        std::fs::write(b.join("two.crt"), CA_TWO).unwrap();
        let list = os(&format!("{}::{}", a.display(), b.display()));
        let mut certs = from_variables(None, Some(&list)).unwrap();
        certs.sort();
        let mut expected = vec![der(CA_ONE), der(CA_TWO)];
        expected.sort();
        assert_eq!(certs, expected);

        let missing = a.join("absent");
        let list = os(&format!("{}:{}", a.display(), missing.display()));
        let error = from_variables(None, Some(&list)).unwrap_err();
        assert!(
            error.starts_with(&format!("`SSL_CERT_DIR` names `{}`", missing.display())),
            "{error}"
        );
    }

    #[test]
    fn the_variables_add_to_the_platform_store() {
        let dir = scratch("union");
        let bundle = dir.join("ca.pem");
        std::fs::write(&bundle, format!("{CA_ONE}{CA_ONE}")).unwrap();
        let folder = scratch("union-dir");
        std::fs::write(folder.join("two.pem"), CA_TWO).unwrap();
        let store = load(Some(bundle.as_os_str()), Some(folder.as_os_str()));
        assert!(store.problem.is_none());
        let trusted = roots(&store);
        let platform = platform();
        assert!(trusted.contains(&der(CA_ONE)) && trusted.contains(&der(CA_TWO)));
        for cert in &platform {
            assert!(trusted.contains(cert), "a platform certificate is missing");
        }
        // Duplicates (the same CA twice in the file) are trusted once.
        let mut unique = platform.clone();
        unique.extend([der(CA_ONE), der(CA_TWO)]);
        unique.sort();
        unique.dedup();
        assert_eq!(trusted.len(), unique.len());
        assert_eq!(
            store.extra,
            vec![
                format!("`SSL_CERT_FILE` (`{}`)", bundle.display()),
                format!("`SSL_CERT_DIR` (`{}`)", folder.display()),
            ]
        );
    }

    #[test]
    fn origins_drop_paths_and_credentials() {
        assert_eq!(
            origin("https://user:secret@pypi.example:8443/simple/pkg/?x#y"),
            "https://pypi.example:8443/"
        );
        assert_eq!(origin("https://test.pypi.org"), "https://test.pypi.org/");
        assert_eq!(
            origin("https://:tok%40en@[::1]:443/simple/"),
            "https://[::1]/"
        );
        assert_eq!(origin("no scheme/simple/"), "the server");
    }
}
