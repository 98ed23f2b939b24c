// Security keys and passkeys (decision 0027). Progressive enhancement: each
// form[data-passkey] gets the options (inline, or by a POST with the page's CSRF token),
// asks the browser (navigator.credentials), puts the answer in its hidden `response` field
// and posts the form; the server answers with a page, as for any form. Without WebAuthn or
// JavaScript the button stays hidden and the page's other ways in keep working.
(() => {
  "use strict";

  const MESSAGES = {
    unsupported:
      "This browser cannot use security keys or passkeys. Use another way below, or another browser.",
    cancelled:
      "Nothing was used: the request was cancelled or timed out. Select the button to try again.",
    failed: "Your security key or passkey could not be used here. Try again, or use another way.",
    known: "That security key or passkey is already on your account.",
    network: "We could not reach the server. Check your connection and try again.",
    origin:
      "Security keys and passkeys work only at this service's usual address. Open it there and try again.",
  };

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map((c) => ({ ...c, id: fromBase64url(c.id) }));
  }

  function creationOptions(json) {
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      user: { ...json.user, id: fromBase64url(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
      // Whether the key stored a discoverable credential (usable without a password).
      extensions: { ...(json.extensions || {}), credProps: true },
    };
  }

  function requestOptions(json) {
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    };
  }

  function answer(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || null,
    });
  }

  function say(form, message) {
    const status = form.querySelector(".passkey-status");
    if (!status) return;
    status.textContent = message || "";
    status.hidden = !message;
  }

  async function fetchOptions(form) {
    const body = new URLSearchParams();
    body.set("csrf_token", form.querySelector("input[name=csrf_token]").value);
    let reply;
    try {
      reply = await fetch(form.dataset.optionsUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (_err) {
      throw new Error(MESSAGES.network);
    }
    if (reply.redirected) {
      // The sign-in expired (or was finished elsewhere): the server says where to go now.
      window.location.assign(reply.url);
      return null;
    }
    const data = await reply.json().catch(() => ({}));
    if (!reply.ok || typeof data.challenge !== "string") {
      throw new Error(data.error || MESSAGES.failed);
    }
    return data;
  }

  function explain(error) {
    if (error && error.name === "NotAllowedError") return MESSAGES.cancelled;
    if (error && error.name === "AbortError") return "";
    if (error && error.name === "InvalidStateError") return MESSAGES.known;
    if (error && error.name === "NotSupportedError") return MESSAGES.unsupported;
    if (error && error.name === "SecurityError") return MESSAGES.origin;
    if (error && error.message && !error.name.endsWith("Error")) return error.message;
    return (error && error.message) || MESSAGES.failed;
  }

  let conditional = null; // the login page's autofill request, aborted by a button press

  async function run(form, mediation) {
    const kind = form.dataset.passkey;
    say(form, "");
    if (mediation !== "conditional" && conditional) {
      conditional.abort();
      conditional = null;
    }
    try {
      let credential;
      if (kind === "register") {
        const options = creationOptions(JSON.parse(form.dataset.options));
        credential = await navigator.credentials.create({ publicKey: options });
      } else {
        const fetched = await fetchOptions(form);
        if (!fetched) return;
        const request = { publicKey: requestOptions(fetched) };
        if (mediation === "conditional") {
          conditional = new AbortController();
          request.mediation = "conditional";
          request.signal = conditional.signal;
        }
        credential = await navigator.credentials.get(request);
      }
      if (!credential) return;
      form.querySelector("input[name=response]").value = answer(credential);
      form.submit();
    } catch (error) {
      if (mediation === "conditional") return; // autofill: nothing to say; the button stays
      say(form, explain(error));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const forms = document.querySelectorAll("form[data-passkey]");
    const supported = Boolean(window.PublicKeyCredential && navigator.credentials);
    for (const form of forms) {
      const button = form.querySelector("[data-passkey-start]");
      if (!supported) {
        if (form.dataset.passkey !== "passwordless") say(form, MESSAGES.unsupported);
        continue;
      }
      if (button) button.hidden = false;
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        run(form, "modal");
      });
      if (
        form.dataset.passkey === "passwordless" &&
        typeof PublicKeyCredential.isConditionalMediationAvailable === "function"
      ) {
        PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
          if (available) run(form, "conditional");
        });
      }
    }
  });
})();
