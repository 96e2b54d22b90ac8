//! One conversation with the CA (RFC 8555): the account, then an order for a site's hosts
//! — authorizations answered by the chosen challenge, finalized with a fresh key, the chain
//! downloaded.

use std::time::Duration;

use bytes::Bytes;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, ChallengeType, Identifier,
    NewAccount, NewOrder, OrderStatus, RetryPolicy,
};

use super::Acme;
use super::keeper::Keeper;
use crate::config::{AcmeConfig, Challenge};

/// The account for the configured directory: restored from where the keeper keeps it, or
/// created (terms of service agreed, the `email` as contact) and kept there.
pub async fn account(acme: &AcmeConfig, keeper: &Keeper) -> Result<Account, String> {
    let directory = acme.directory_url();
    let builder =
        || -> Result<_, String> { Ok(Account::builder_with_http(Box::new(http_client(acme)?))) };
    let stored = keeper
        .account(directory)
        .await
        .map_err(|e| format!("cannot read the ACME account: {e}"))?;
    if let Some(json) = stored {
        return restore(builder()?, directory, &json).await;
    }
    let contact = acme.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory.to_owned(),
            None,
        )
        .await
        .map_err(|e| format!("cannot create an ACME account at {directory}: {e}"))?;
    let json = serde_json::to_string(&credentials).map_err(|e| e.to_string())?;
    let kept = keeper
        .save_account(directory, &json)
        .await
        .map_err(|e| format!("cannot save the ACME account: {e}"))?;
    if kept != json {
        // Another replica created one at the same moment; everyone uses that one.
        return restore(builder()?, directory, &kept).await;
    }
    tracing::info!(directory, "ACME account created");
    Ok(account)
}

async fn restore(
    builder: instant_acme::AccountBuilder,
    directory: &str,
    json: &str,
) -> Result<Account, String> {
    let credentials: AccountCredentials = serde_json::from_str(json)
        .map_err(|e| format!("the stored ACME account is unreadable: {e}"))?;
    builder
        .from_credentials(credentials)
        .await
        .map_err(|e| format!("cannot restore the ACME account at {directory}: {e}"))
}

/// The HTTPS client that talks to the directory: the public web roots, or the `ca` file's
/// certificates for a private or test CA.
fn http_client(
    acme: &AcmeConfig,
) -> Result<
    hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        BodyWrapper<Bytes>,
    >,
    String,
> {
    let tls = crate::pem::client_config(acme.ca.as_deref()).map_err(|e| format!("acme.ca: {e}"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

/// Orders a certificate for `hosts`; returns the PEM chain and the PEM key.
pub async fn issue(
    account: &Account,
    hosts: &[String],
    challenge: Challenge,
    acme: &Acme,
) -> Result<(String, String), String> {
    let identifiers: Vec<Identifier> = hosts.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| format!("the CA refused the order: {e}"))?;
    let kind = || match challenge {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let challenge_kind = challenge;
    let mut answered = Vec::new();
    let outcome = async {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| format!("cannot read an authorization: {e}"))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("authorization is {other:?}")),
            }
            let host = authz.identifier().to_string();
            let mut challenge = authz
                .challenge(kind())
                .ok_or_else(|| format!("the CA offers no {:?} challenge for `{host}`", kind()))?;
            let key_authorization = challenge.key_authorization();
            match challenge_kind {
                Challenge::TlsAlpn01 => {
                    let cert =
                        super::cert::alpn_challenge(&host, key_authorization.digest().as_ref())?;
                    acme.pending.add_alpn(&host, cert);
                    answered.push(Answer::Alpn(host.clone()));
                }
                Challenge::Http01 => {
                    acme.pending
                        .add_http(&challenge.token, key_authorization.as_str());
                    acme.keeper
                        .publish(&challenge.token, key_authorization.as_str())
                        .await?;
                    answered.push(Answer::Http(challenge.token.clone()));
                }
            }
            challenge
                .set_ready()
                .await
                .map_err(|e| format!("the CA did not accept the challenge for `{host}`: {e}"))?;
        }
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(Duration::from_secs(120));
        let status = order
            .poll_ready(&retries)
            .await
            .map_err(|e| format!("waiting for validation: {e}"))?;
        if status != OrderStatus::Ready {
            return Err(format!(
                "validation failed ({status:?}): {}",
                why_invalid(&mut order).await
            ));
        }
        let key = order
            .finalize()
            .await
            .map_err(|e| format!("finalizing the order: {e}"))?;
        let chain = order
            .poll_certificate(&retries)
            .await
            .map_err(|e| format!("downloading the certificate: {e}"))?;
        Ok((chain, key))
    }
    .await;
    for answer in answered {
        match answer {
            Answer::Http(token) => {
                acme.pending.remove_http(&token);
                acme.keeper.withdraw(&token).await;
            }
            Answer::Alpn(host) => acme.pending.remove_alpn(&host),
        }
    }
    outcome
}

enum Answer {
    Http(String),
    Alpn(String),
}

/// The CA's own words on a failed validation (the challenge's `error`), for the log.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        for challenge in &authz.challenges {
            if let Some(error) = &challenge.error {
                reasons.push(format!("{}: {error}", authz.identifier()));
            }
        }
    }
    if reasons.is_empty() {
        "the CA gave no reason".to_owned()
    } else {
        reasons.join("; ")
    }
}
