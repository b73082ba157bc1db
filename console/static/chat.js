// The chat page's one script: sends the form, then renders the answer token by token from
// an EventSource. Without JavaScript the form still works (the server answers when done).
"use strict";
(function () {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const list = document.getElementById("messages");
  const status = document.getElementById("status");
  const box = document.getElementById("message");
  const send = document.getElementById("send");

  function item(role, text) {
    const li = document.createElement("li");
    li.className = "msg " + role;
    const content = document.createElement("div");
    content.className = "content";
    content.textContent = text;
    li.appendChild(content);
    list.appendChild(li);
    return li;
  }

  function meta(li, text, cost, warning) {
    const p = document.createElement("p");
    p.className = "meta";
    p.textContent = text + " · ";
    const c = document.createElement("span");
    c.className = "cost";
    c.textContent = "$" + Number(cost).toFixed(6);
    p.appendChild(c);
    if (warning) {
      const w = document.createElement("strong");
      w.className = "error";
      w.textContent = " " + warning;
      p.appendChild(w);
    }
    li.appendChild(p);
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) return;
    send.disabled = true;
    status.textContent = "Sending…";
    const body = new URLSearchParams(new FormData(form));
    let started;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { "Accept": "application/json" },
        body: body,
        credentials: "same-origin",
      });
      const type = response.headers.get("content-type") || "";
      if (!type.includes("application/json")) {
        throw new Error(response.status === 401 ? "signed out; reload the page" : response.statusText);
      }
      const json = await response.json();
      if (!response.ok) throw new Error(json.error || response.statusText);
      started = json;
    } catch (e) {
      status.textContent = "Not sent: " + e.message;
      send.disabled = false;
      return;
    }
    item("user", text);
    box.value = "";
    const answer = item("assistant", "");
    const content = answer.querySelector(".content");
    form.elements["conversation_id"].value = started.conversationId;
    history.replaceState(null, "", "/chat?c=" + started.conversationId);
    status.textContent = "Answering…";
    // Any console replica serves the stream and replays it from the first event, so after a
    // dropped connection the browser's own reconnect starts the text over.
    const source = new EventSource("/chat/streams/" + started.streamId);
    let reconnects = 0;
    source.onopen = function () {
      content.textContent = "";
      status.textContent = "Answering…";
    };
    source.onmessage = function (e) {
      const event = JSON.parse(e.data);
      if (event.type === "token") {
        content.textContent += event.data.token;
      } else if (event.type === "complete") {
        const d = event.data;
        const cited = d.message.citations || [];
        if (cited.length) {
          const p = document.createElement("p");
          p.className = "sources";
          p.textContent = "Sources: " + cited.map(function (c) { return "[" + c.n + "] " + c.documentName; }).join(" ");
          answer.appendChild(p);
        }
        const warning = d.budget && d.budget.warning;
        meta(answer, d.provider + " · " + d.model + " · " + d.usage.totalTokens + " tokens", d.usage.cost, warning);
        status.textContent = "";
        source.close();
        send.disabled = false;
        rendered(answer, started.conversationId);
      } else if (event.type === "error") {
        answer.classList.add("truncated");
        status.textContent = event.data.error;
        if (event.data.usage) meta(answer, "incomplete", event.data.usage.cost, event.data.error);
        source.close();
        send.disabled = false;
      }
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CONNECTING && reconnects < 5) {
        reconnects += 1;
        status.textContent = "The connection dropped; reconnecting…";
        return;
      }
      status.textContent = "The connection dropped; the answer is still saved in the conversation.";
      source.close();
      send.disabled = false;
    };
  });
})();

// Answers are Markdown rendered and sanitized by the server. Code blocks get a copy button;
// a streamed answer, once complete, is replaced by the server's rendering of it.
function copyButtons(root) {
  root.querySelectorAll(".markdown pre").forEach(function (pre) {
    if (pre.querySelector("button.copy")) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      const code = pre.querySelector("code") || pre;
      navigator.clipboard.writeText(code.textContent).then(function () {
        button.textContent = "Copied";
      });
    });
    pre.appendChild(button);
  });
}

function rendered(answer, conversationId) {
  fetch("/chat?c=" + encodeURIComponent(conversationId), { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
    .then(function (html) {
      const doc = new DOMParser().parseFromString(html, "text/html");
      const all = doc.querySelectorAll("#messages .msg.assistant .content.markdown");
      const last = all[all.length - 1];
      if (!last) return;
      const content = answer.querySelector(".content");
      content.className = "content markdown";
      content.replaceChildren.apply(content, Array.from(last.childNodes).map(function (n) { return document.importNode(n, true); }));
      copyButtons(answer);
    })
    .catch(function () {});
}

copyButtons(document);
