//! The endpoints cfship calls: envelopes, token verification, the Logpull field list, retention
//! flag and stream, audit access.

use super::*;

impl CloudflareClient {
    /// GET an enveloped endpoint with retries. `success:false` is an error.
    pub async fn get_envelope(
        &self,
        auth: &Auth,
        path: &str,
        query: &[(&str, String)],
        context: &str,
    ) -> Result<Envelope, CfError> {
        let url = self.url(path, query)?;
        self.retrying(context, || self.get_envelope_once(auth, &url, context))
            .await
    }

    /// `GET /zones/{zone}/logs/received/fields`: every field name Logpull accepts for the zone (for
    /// validating `fields` in `cfship check`). The answer is a bare `{name: description}` object.
    pub async fn logpull_fields(&self, auth: &Auth, zone: &str) -> Result<Vec<String>, CfError> {
        let ctx = format!("zone {zone}: list Logpull fields");
        let url = self.url(&format!("zones/{zone}/logs/received/fields"), &[])?;
        let body = self
            .retrying(&ctx, || async {
                let resp = self.send_once(auth, &url, None, true, &ctx).await?;
                read_body_limited(resp, self.inner.cfg.idle_body_timeout, 16 << 20, &ctx).await
            })
            .await?;
        let m: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| CfError::Decode {
                context: ctx.clone(),
                reason: format!("expected a JSON object of field names: {e}"),
            })?;
        Ok(m.keys().cloned().collect())
    }

    /// `GET /accounts/{account}/tokens/verify` for account-owned API tokens (they are invisible to
    /// `/user/tokens/verify`).
    pub async fn verify_account_token(
        &self,
        auth: &Auth,
        account: &str,
    ) -> Result<TokenStatus, CfError> {
        let ctx = format!("account {account}: verify API token");
        let env = self
            .get_envelope(
                auth,
                &format!("accounts/{account}/tokens/verify"),
                &[],
                &ctx,
            )
            .await?;
        decode_result(&env, &ctx)
    }

    pub(super) async fn get_envelope_once(
        &self,
        auth: &Auth,
        url: &Url,
        context: &str,
    ) -> Result<Envelope, CfError> {
        let resp = self.send_once(auth, url, None, true, context).await?;
        let status = resp.status().as_u16();
        let body =
            read_body_limited(resp, self.inner.cfg.idle_body_timeout, 256 << 20, context).await?;
        let env: Envelope = serde_json::from_slice(&body).map_err(|e| CfError::Decode {
            context: context.to_string(),
            reason: format!("not a Cloudflare JSON envelope: {e}"),
        })?;
        if !env.success {
            let hint = hint_for(status, &env.errors, &permission_hint(context));
            return Err(CfError::Api {
                context: context.to_string(),
                status,
                errors: env.errors,
                cf_ray: None,
                hint,
                retry_after: None,
            });
        }
        Ok(env)
    }

    /// One request with an optional JSON body (`POST`, `PUT`, `DELETE` of the Logpush jobs API),
    /// through the shared rate limiter. Not retried: creating a job is not idempotent; the caller
    /// reports the error. `success:false` is an error.
    pub async fn send_envelope(
        &self,
        auth: &Auth,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        context: &str,
    ) -> Result<Envelope, CfError> {
        let url = self.url(path, &[])?;
        let waited = self.inner.limiter.acquire(None).await;
        let st = &self.inner.stats;
        st.rate_limit_wait_ms
            .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
        st.requests_total.fetch_add(1, Ordering::Relaxed);
        let mut rb = self
            .inner
            .http
            .request(method, url)
            .header("Accept", "application/json");
        if let Some(b) = body {
            rb = rb.json(b);
        }
        rb = auth.apply(rb);
        let resp = match tokio::time::timeout(self.inner.cfg.response_timeout, rb.send()).await {
            Err(_) => {
                st.transport_errors.fetch_add(1, Ordering::Relaxed);
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: format!("no response within {:?}", self.inner.cfg.response_timeout),
                });
            }
            Ok(Err(e)) => {
                st.transport_errors.fetch_add(1, Ordering::Relaxed);
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: describe_reqwest(&e),
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        st.count_status(status);
        if !resp.status().is_success() {
            st.failed_requests.fetch_add(1, Ordering::Relaxed);
            return Err(self.error_from_response(resp, context).await);
        }
        let body =
            read_body_limited(resp, self.inner.cfg.idle_body_timeout, 16 << 20, context).await?;
        let env: Envelope = serde_json::from_slice(&body).map_err(|e| CfError::Decode {
            context: context.to_string(),
            reason: format!("not a Cloudflare JSON envelope: {e}"),
        })?;
        if !env.success {
            let hint = hint_for(status, &env.errors, &permission_hint(context));
            return Err(CfError::Api {
                context: context.to_string(),
                status,
                errors: env.errors,
                cf_ray: None,
                hint,
                retry_after: None,
            });
        }
        Ok(env)
    }

    /// `GET /user/tokens/verify` (token auth) — for `cfship check`. With key auth, `GET /user` is
    /// used instead (the global key has no verify endpoint) and the status is reported as "active".
    pub async fn verify_token(&self, auth: &Auth) -> Result<TokenStatus, CfError> {
        match auth {
            Auth::Token(_) => {
                let env = self
                    .get_envelope(auth, "user/tokens/verify", &[], "verify API token")
                    .await?;
                decode_result(&env, "verify API token")
            }
            Auth::Key { email, .. } => {
                self.get_envelope(auth, "user", &[], "verify global API key")
                    .await?;
                Ok(TokenStatus {
                    id: email.clone(),
                    status: "active".into(),
                    expires_on: None,
                })
            }
        }
    }

    /// `GET /zones/{zone}/logs/control/retention/flag` → the flag.
    pub async fn logpull_retention(&self, auth: &Auth, zone: &str) -> Result<bool, CfError> {
        #[derive(Deserialize)]
        struct Flag {
            flag: bool,
        }
        let ctx = format!("zone {zone}: read Logpull retention flag");
        let env = self
            .get_envelope(
                auth,
                &format!("zones/{zone}/logs/control/retention/flag"),
                &[],
                &ctx,
            )
            .await?;
        let f: Flag = decode_result(&env, &ctx)?;
        Ok(f.flag)
    }

    /// Proves the credentials can read the account's audit logs (`per_page=1`).
    pub async fn audit_readable(&self, auth: &Auth, account: &str) -> Result<(), CfError> {
        let ctx = format!("account {account}: read audit logs");
        self.get_envelope(
            auth,
            &format!("accounts/{account}/audit_logs"),
            &[("per_page", "1".to_string())],
            &ctx,
        )
        .await?;
        Ok(())
    }

    /// One attempt to open a Logpull stream (no retry: the caller retries the whole window).
    pub async fn open_logpull(
        &self,
        auth: &Auth,
        zone: &str,
        query: &[(&str, String)],
        context: &str,
    ) -> Result<LogpullStream, CfError> {
        let url = self.url(&format!("zones/{zone}/logs/received"), query)?;
        let resp = self
            .send_once(auth, &url, Some(zone), true, context)
            .await?;
        if resp.status().as_u16() == 204 {
            return Err(CfError::RetentionDisabled {
                zone: zone.to_string(),
            });
        }
        let gzip = resp
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let body = resp
            .bytes_stream()
            .map_err(|e| std::io::Error::other(describe_reqwest(&e)));
        let reader = tokio_util::io::StreamReader::new(body);
        let reader: Box<dyn AsyncRead + Send + Unpin> = if gzip {
            Box::new(async_compression::tokio::bufread::GzipDecoder::new(
                tokio::io::BufReader::with_capacity(64 * 1024, reader),
            ))
        } else {
            Box::new(reader)
        };
        Ok(LogpullStream::new(
            reader,
            self.inner.cfg.idle_body_timeout,
            context,
            self.inner.stats.clone(),
        ))
    }
}
