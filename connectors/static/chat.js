// linli web chat: talks to POST /webhooks/webchat/webhook. All text goes through textContent (never innerHTML).
(function () {
  "use strict";
  var ENDPOINT = "/webhooks/webchat/webhook";
  var UPDATES = "/webhooks/webchat/updates";  // pushes (status changes, staff replies) wait there for us
  var POLL_MS = 20000;
  var CONSULT_TEXT = "我想发起议事协商";
  var log = document.getElementById("log");
  var chat = log.parentElement;
  var form = document.getElementById("form");
  var input = document.getElementById("message");
  var sendButton = document.getElementById("send");
  var statusLine = document.getElementById("status");
  var queue = Promise.resolve();

  function senderId() {
    var key = "linli.sender";
    var id = null;
    try { id = window.localStorage.getItem(key); } catch (e) { /* storage may be blocked */ }
    if (!id || !/^(?=[A-Za-z0-9_-]*[A-Za-z_])[A-Za-z0-9_-]{1,64}$/.test(id)) {
      var bytes = new Uint8Array(12);
      window.crypto.getRandomValues(bytes);
      id = "web-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      try { window.localStorage.setItem(key, id); } catch (e) { /* keep it for this page only */ }
    }
    return id;
  }
  var sender = senderId();

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function scrollDown() { chat.scrollTop = chat.scrollHeight; }

  function addMessage(who, text) {
    var item = el("li", "msg " + who);
    var label = el("span", "visually-hidden", who === "user" ? "我说：" : "邻里助手：");
    item.appendChild(label);
    if (text) item.appendChild(el("div", "bubble", text));
    log.appendChild(item);
    scrollDown();
    return item;
  }

  function lastChapter(chapter) {
    var parts = String(chapter || "").split("›");
    return parts[parts.length - 1].trim();
  }

  function addSources(item, sources) {
    if (!Array.isArray(sources) || !sources.length) return;
    var box = el("div", "sources");
    box.appendChild(el("p", "label", "查看原文"));
    sources.slice(0, 5).forEach(function (src) {
      if (!src || typeof src !== "object") return;
      var details = el("details", "source");
      var summary = el("summary");
      summary.appendChild(el("span", "chapter", src.title || lastChapter(src.chapter) || "知识库"));
      details.appendChild(summary);
      if (src.title && src.chapter) details.appendChild(el("div", "title", src.title));
      var quote = src.text || src.quote;
      if (quote) details.appendChild(el("blockquote", "quote", quote));
      if (typeof src.link === "string" && /^https?:\/\//.test(src.link)) {
        var a = el("a", "origin", "在原文中查看");
        a.href = src.link;
        a.target = "_blank";
        a.rel = "noopener";
        details.appendChild(a);
      }
      box.appendChild(details);
    });
    item.appendChild(box);
  }

  function addButtons(item, buttons) {
    if (!Array.isArray(buttons) || !buttons.length) return;
    var group = el("div", "buttons");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "可选回复");
    buttons.forEach(function (b) {
      if (!b || !b.title) return;
      var button = el("button", null, b.title);
      button.type = "button";
      button.addEventListener("click", function () {
        Array.prototype.forEach.call(group.querySelectorAll("button"), function (x) { x.disabled = true; });
        send(String(b.payload || b.title), String(b.title), true);
      });
      group.appendChild(button);
    });
    item.appendChild(group);
  }

  function render(messages) {
    var last = null;
    (messages || []).forEach(function (m) {
      if (!m || typeof m !== "object") return;
      var custom = (m.custom && typeof m.custom === "object") ? m.custom : null;
      if (m.text) {
        last = addMessage("bot", m.text);
      } else if (custom && custom.text) {
        last = addMessage("bot", custom.text);
      } else if (m.image) {
        last = addMessage("bot", "图片：" + m.image);
      } else if (!last) {
        last = addMessage("bot", "");
      }
      if (m.buttons) addButtons(last, m.buttons);
      if (custom && custom.sources) addSources(last, custom.sources);
    });
    if (!last) addMessage("bot", "我没有听清楚，可以换个说法再问一次吗？");
  }

  function busy(on) {
    sendButton.disabled = on;
    statusLine.textContent = on ? "邻里助手正在输入…" : "";
  }

  function post(payload, url) {
    return fetch(url || ENDPOINT, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (!resp.ok) throw new Error(body && body.error ? body.error : "请求失败");
        return body;
      });
    });
  }

  function send(message, shown, isPayload) {
    addMessage("user", shown);
    queue = queue.then(function () {
      busy(true);
      return post({ sender: sender, message: message, payload: !!isPayload })
        .then(function (body) { render(body.messages); })
        .catch(function (err) {
          var item = addMessage("bot", (err && err.message && /[\u4e00-\u9fff]/.test(err.message))
            ? err.message : "网络好像不太稳定，请稍后再试。");
          item.classList.add("error");
        })
        .then(function () { busy(false); });
    });
    return queue;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { input.focus(); return; }
    input.value = "";
    autosize();
    send(text, text, false);
    input.focus();
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, window.innerHeight * 0.3) + "px";
  }
  input.addEventListener("input", autosize);

  // Fetch pushed messages while the page is visible (and at once when it becomes visible again);
  // through the same queue as replies, so a push never lands in the middle of an answer.
  function poll() {
    if (document.hidden) return queue;
    queue = queue.then(function () {
      return post({ sender: sender }, UPDATES)
        .then(function (body) { if (body.messages && body.messages.length) render(body.messages); })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
    });
    return queue;
  }
  window.setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
  poll();

  document.getElementById("consult").addEventListener("click", function () {
    send(CONSULT_TEXT, CONSULT_TEXT, false);
    input.focus();
  });
})();
