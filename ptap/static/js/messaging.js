// Live messaging (progressive enhancement: templates/messaging/*.html work without JavaScript).
// Socket.IO namespace /messaging.
// Thread page: join the thread, send with a client id (re-sent after a reconnect; the server
// answers a known id with the first message), append `message_created`, apply
// `message_updated` (edits, retractions, acknowledgements), typing indicator, read position and
// the others' read markers (`read_receipts`), catch-up through the JSON API after a reconnect,
// urgent acknowledgement (who and when), and text with files from the same form (API upload
// with a progress bar; checked here first so a refusal keeps the text); `rejoin_required` and
// `access_revoked` after a change of circle or team.
// Conversation list: unread badges kept up to date (`unread_counts`, `conversation_updated`).
// tests/e2e/test_messaging_js.py drives them in several browsers (all but the last two events).
(function () {
  "use strict";

  if (typeof window.io !== "function") return;

  const FORMAT = new Intl.DateTimeFormat("fr-FR", {
    timeZone: "Europe/Paris", day: "2-digit", month: "2-digit", year: "numeric",
    hour: "2-digit", minute: "2-digit",
  });

  const SHORT_FORMAT = new Intl.DateTimeFormat("fr-FR", {
    timeZone: "Europe/Paris", day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit",
  });

  // "07/12 à 10:32" (acknowledgements), the same as ptap.core.formatting.day_month_time.
  function shortTime(iso) {
    const date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    const p = {};
    SHORT_FORMAT.formatToParts(date).forEach(function (part) { p[part.type] = part.value; });
    return p.day + "/" + p.month + " à " + p.hour + ":" + p.minute;
  }

  function frenchTime(iso) {
    const date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    const p = {};
    FORMAT.formatToParts(date).forEach(function (part) { p[part.type] = part.value; });
    return p.day + "/" + p.month + "/" + p.year + " à " + p.hour + ":" + p.minute;
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // Only the API's own attachment route becomes a link.
  function safeUrl(url) {
    return typeof url === "string" && /^\/api\/v1\/attachments\/\d+$/.test(url) ? url : "";
  }

  // --- Conversation list: unread badges kept live ----------------------------------------

  const KIND_LABELS = { patient: "Patient", team: "Équipe", direct: "Directe" };

  function liveConversationList(ul) {
    const summary = document.getElementById("conversation-summary");
    const none = document.getElementById("conversation-empty");
    const userId = parseInt(ul.getAttribute("data-user-id"), 10);
    const socket = window.io("/messaging", { withCredentials: true });
    let refreshing = null;
    let refreshAgain = false;

    function row(id) {
      return ul.querySelector('li.conversation[data-conversation-id="' + Number(id) + '"]');
    }

    function addRow(c) {
      const item = el("li", "conversation");
      item.setAttribute("data-conversation-id", String(c.id));
      item.setAttribute("data-unread", "0");
      item.setAttribute("data-last-seq", "0");
      const link = el("a", "", c.title || "Conversation");
      link.href = "/conversations/" + Number(c.id);
      item.appendChild(link);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("span", "tag", KIND_LABELS[c.kind] || String(c.kind || "")));
      ul.prepend(item);
      ul.hidden = false;
      if (none) none.hidden = true;
      return item;
    }

    function setUnread(item, count) {
      let badge = item.querySelector("[data-conversation-unread]");
      item.setAttribute("data-unread", String(count));
      item.classList.toggle("conversation-unread", count > 0);
      if (count <= 0) {
        if (badge) badge.remove();
        return;
      }
      if (!badge) {
        badge = el("span", "tag tag-new");
        badge.setAttribute("data-conversation-unread", item.getAttribute("data-conversation-id"));
        item.appendChild(document.createTextNode(" "));
        item.appendChild(badge);
      }
      badge.textContent = count + " non lu" + (count > 1 ? "s" : "");
    }

    // The same sentence as the server-rendered one: "3 conversations, 2 messages non lus."
    function renderSummary() {
      if (!summary) return;
      const items = ul.querySelectorAll("li.conversation[data-conversation-id]");
      let unread = 0;
      items.forEach(function (item) {
        unread += parseInt(item.getAttribute("data-unread"), 10) || 0;
      });
      summary.textContent = items.length + " conversation" + (items.length > 1 ? "s" : "");
      if (unread) {
        summary.appendChild(document.createTextNode(", "));
        summary.appendChild(el("strong", "", unread + " message" + (unread > 1 ? "s" : "") +
          " non lu" + (unread > 1 ? "s" : "")));
      }
      summary.appendChild(document.createTextNode("."));
    }

    // Authoritative counts from the API: after a (re)connection, or when a push does not
    // carry a count. A push arriving meanwhile asks for one more round (no stale answer wins).
    function refresh() {
      if (refreshing) {
        refreshAgain = true;
        return;
      }
      refreshing = fetch("/api/v1/conversations", {
        credentials: "same-origin", headers: { Accept: "application/json" },
      })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          (data.items || []).slice().reverse().forEach(function (c) {
            if (typeof c.id !== "number" || typeof c.unread !== "number") return;
            const item = row(c.id) || addRow(c);
            item.setAttribute("data-last-seq", String(c.last_seq || 0));
            setUnread(item, c.unread);
          });
          renderSummary();
        })
        .catch(function () { /* the next push or reconnect tries again */ })
        .then(function () {
          refreshing = null;
          if (refreshAgain) {
            refreshAgain = false;
            refresh();
          }
        });
    }

    function apply(counts) {
      let unknown = false;
      Object.keys(counts).forEach(function (id) {
        const count = Number(counts[id]);
        const item = row(id);
        if (item && count >= 0) setUnread(item, count);
        else if (!item && count > 0) unknown = true;
      });
      renderSummary();
      if (unknown || refreshing) refresh();
    }

    // One more message in a conversation: counted here when it is the next one and someone
    // else's; anything else (a gap after missed events, an unknown conversation) asks the API.
    function countMessage(data) {
      const item = row(data.conversation_id);
      const last = item ? parseInt(item.getAttribute("data-last-seq"), 10) || 0 : -1;
      if (!item || typeof data.last_seq !== "number" || typeof data.author_id !== "number" ||
          data.last_seq > last + 1) {
        refresh();
        return;
      }
      if (data.last_seq <= last) return; // already counted
      item.setAttribute("data-last-seq", String(data.last_seq));
      if (ul.firstElementChild !== item) ul.prepend(item); // the most recent message first
      if (data.author_id !== userId) {
        setUnread(item, (parseInt(item.getAttribute("data-unread"), 10) || 0) + 1);
        renderSummary();
      }
      if (refreshing) refresh(); // an answer computed before this message must not win
    }

    // The server pushes `unread_counts` after the user reads (any tab), and
    // `conversation_updated` {conversation_id, last_seq, author_id} to list pages when
    // someone posts; a count in it (`unread`) is taken as is.
    socket.on("connect", function () {
      ul.setAttribute("data-live", "connected");
      refresh(); // what happened before the page was served or while offline
    });
    socket.on("disconnect", function () { ul.removeAttribute("data-live"); });
    socket.on("unread_counts", function (data) {
      if (data && data.counts && typeof data.counts === "object") apply(data.counts);
      else refresh();
    });
    socket.on("conversation_updated", function (data) {
      if (!data) return;
      if (typeof data.unread === "number") {
        const counts = {};
        counts[data.conversation_id] = data.unread;
        apply(counts);
      } else {
        countMessage(data);
      }
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && socket.connected) refresh();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const conversations = document.getElementById("conversation-list");
    if (conversations) liveConversationList(conversations);
    const thread = document.getElementById("thread");
    const list = document.getElementById("message-list");
    if (thread && list) liveThread(thread, list);
  });

  // --- Thread page ---------------------------------------------------------------------------

  function liveThread(thread, list) {
    const conversationId = parseInt(thread.getAttribute("data-conversation-id"), 10);
    const userId = parseInt(thread.getAttribute("data-user-id"), 10);
    const form = document.getElementById("message-form");
    const textarea = document.getElementById("body");
    const urgent = document.getElementById("priority");
    const typingBox = document.getElementById("typing-indicator");
    const stateBox = document.getElementById("connection-state");
    const empty = document.getElementById("thread-empty");
    const fileInput = document.getElementById("files");
    const errorBox = document.getElementById("compose-error");
    const progress = document.getElementById("upload-progress");
    const uploadState = document.getElementById("upload-state");
    const submitButton = form ? form.querySelector('button[type="submit"]') : null;
    let sending = false;

    let lastSeq = parseInt(thread.getAttribute("data-last-seq"), 10) || 0;
    let readSeq = lastSeq;
    let joined = false;
    let catchingUp = null;
    const pending = new Map(); // client_id -> payload still waiting for the server's ack
    const names = new Map(); // user id -> display name (authors, typists, readers)
    const readers = new Map(); // other user's id -> the seq they have read up to
    list.querySelectorAll("li.message[data-author-id]").forEach(function (item) {
      const author = item.querySelector(".message-author");
      if (author) names.set(parseInt(item.getAttribute("data-author-id"), 10), author.textContent);
    });

    const socket = window.io("/messaging", { withCredentials: true });

    // --- Rendering ------------------------------------------------------------------------

    function buildMessage(m) {
      const item = el("li", "message");
      item.id = "m" + m.seq;
      item.setAttribute("data-seq", String(m.seq));
      item.setAttribute("data-message-id", String(m.id));
      item.setAttribute("data-client-id", String(m.client_id || ""));
      item.setAttribute("data-author-id", String(m.author_id));
      if (m.priority === "urgent") item.classList.add("message-urgent");
      if (m.retracted_at) item.classList.add("message-retracted");
      const meta = el("p", "message-meta");
      meta.appendChild(el("span", "message-author", m.author_name || ""));
      meta.appendChild(document.createTextNode(" "));
      const time = el("time", "", frenchTime(m.created_at));
      time.dateTime = String(m.created_at || "");
      meta.appendChild(time);
      if (m.priority === "urgent") {
        meta.appendChild(document.createTextNode(" "));
        const tag = el("span", "tag tag-urgent");
        const icon = el("span", "", "⚠ ");
        icon.setAttribute("aria-hidden", "true");
        tag.appendChild(icon);
        tag.appendChild(document.createTextNode("Urgent"));
        meta.appendChild(tag);
      }
      if (m.retracted_at || m.edited_at) {
        meta.appendChild(document.createTextNode(" "));
        meta.appendChild(el("span", "tag",
          m.retracted_at ? "Retiré" : "Modifié le " + frenchTime(m.edited_at)));
      }
      item.appendChild(meta);
      if (m.retracted_at) {
        item.appendChild(el("p", "message-body message-gone", "Ce message a été retiré par son auteur."));
        return item;
      }
      const body = el("div", "message-body");
      // body_html is rendered and sanitised by the server (ptap.messaging.markdown).
      body.innerHTML = String(m.body_html || "");
      item.appendChild(body);
      const files = (m.attachments || []).filter(function (a) { return safeUrl(a.url); });
      if (files.length) {
        const ul = el("ul", "message-files");
        files.forEach(function (a) {
          const li = el("li");
          const link = el("a", "", a.filename || "pièce jointe");
          link.href = safeUrl(a.url);
          li.appendChild(link);
          li.appendChild(document.createTextNode(" "));
          li.appendChild(el("span", "hint", "(" + Math.ceil((a.size || 0) / 1024) + " Ko)"));
          ul.appendChild(li);
        });
        item.appendChild(ul);
      }
      if (m.priority === "urgent") {
        const box = el("div", "message-ack");
        const acks = (m.acknowledgements || []).filter(function (a) { return a && a.name; });
        if (acks.length) {
          const ackList = el("ul", "ack-list");
          ackList.setAttribute("role", "list");
          acks.forEach(function (a) {
            const li = el("li");
            li.setAttribute("data-ack-user", String(a.user_id));
            const tick = el("span", "", "✓ ");
            tick.setAttribute("aria-hidden", "true");
            li.appendChild(tick);
            li.appendChild(document.createTextNode(
              "Pris en compte par " + a.name + " le " + shortTime(a.at)));
            ackList.appendChild(li);
          });
          box.appendChild(ackList);
        } else if (m.author_id === userId) {
          box.appendChild(el("p", "hint", "En attente de prise en compte."));
        }
        const ackedByMe = (m.acknowledged_by || []).indexOf(userId) >= 0;
        if (m.author_id !== userId && !ackedByMe) {
          const ackForm = el("form", "ack-form");
          ackForm.method = "post";
          ackForm.action = "/conversations/" + conversationId + "/messages/" + m.id + "/acknowledge";
          const token = el("input");
          token.type = "hidden";
          token.name = "csrf_token";
          token.value = csrfToken();
          ackForm.appendChild(token);
          const button = el("button", "button button-small", "Accuser réception");
          button.type = "submit";
          button.setAttribute("data-ack", String(m.id));
          ackForm.appendChild(button);
          box.appendChild(ackForm);
        }
        item.appendChild(box);
      }
      return item;
    }

    // Insert or replace by seq, keeping the list in order (no duplicates).
    function showMessage(m) {
      if (!m || m.conversation_id !== conversationId || typeof m.seq !== "number") return;
      const node = buildMessage(m);
      const existing = document.getElementById("m" + m.seq);
      if (existing) {
        existing.replaceWith(node);
      } else {
        let before = null;
        const items = list.querySelectorAll("li.message[data-seq]");
        for (let i = items.length - 1; i >= 0; i--) {
          if (parseInt(items[i].getAttribute("data-seq"), 10) < m.seq) {
            before = items[i].nextSibling;
            break;
          }
          before = items[i];
        }
        list.insertBefore(node, before);
      }
      if (m.client_id) {
        pending.delete(m.client_id);
        const local = list.querySelector('li.message-pending[data-client-id="' + CSS.escape(m.client_id) + '"]');
        if (local) local.remove();
      }
      if (empty) empty.hidden = true;
      if (m.seq > lastSeq) lastSeq = m.seq;
      if (m.author_name) names.set(m.author_id, String(m.author_name));
      renderReadMarkers();
      markRead();
    }

    // "Lu par …" under the last message each other member has read (`read_receipts`).
    // A member's own messages are skipped: a receipt never names a message's author.
    function renderReadMarkers() {
      list.querySelectorAll(".read-marker").forEach(function (node) { node.remove(); });
      const items = Array.prototype.slice.call(list.querySelectorAll("li.message[data-seq]"));
      const byItem = new Map();
      readers.forEach(function (seq, readerId) {
        let target = null;
        for (let i = items.length - 1; i >= 0 && !target; i--) {
          const own = parseInt(items[i].getAttribute("data-author-id"), 10) === readerId;
          if (!own && parseInt(items[i].getAttribute("data-seq"), 10) <= seq) target = items[i];
        }
        if (!target) return;
        if (!byItem.has(target)) byItem.set(target, []);
        byItem.get(target).push(readerId);
      });
      byItem.forEach(function (ids, item) {
        const known = ids.filter(function (id) { return names.has(id); })
          .map(function (id) { return names.get(id); }).sort();
        const others = ids.length - known.length;
        if (others) {
          known.push(others + (known.length ? " autre" : "") + " membre" + (others > 1 ? "s" : ""));
        }
        const marker = el("p", "read-marker", "Lu par " + known.join(", "));
        marker.setAttribute("data-readers", ids.join(" "));
        item.appendChild(marker);
      });
    }

    function showPending(draft) {
      const item = el("li", "message message-pending");
      item.setAttribute("data-client-id", draft.client_id);
      item.appendChild(el("p", "message-meta", "Envoi en cours…"));
      item.appendChild(el("div", "message-body", draft.body)); // text node: escaped
      list.appendChild(item);
      if (empty) empty.hidden = true;
    }

    function setState(text) {
      if (!stateBox) return;
      stateBox.textContent = text;
      stateBox.hidden = !text;
    }

    // --- Reading --------------------------------------------------------------------------

    // Debounced: a burst of messages (a catch-up, a busy thread) sends one mark_read for the
    // last of them, MARK_READ_DELAY ms after the burst, not one per message.
    const MARK_READ_DELAY = 1000;
    let markReadTimer = null;

    function markRead() {
      if (markReadTimer !== null) return;
      markReadTimer = window.setTimeout(function () {
        markReadTimer = null;
        if (!joined || document.visibilityState !== "visible" || lastSeq <= readSeq) return;
        const seq = lastSeq;
        socket.emit("mark_read", { conversation_id: conversationId, seq: seq }, function (ack) {
          if (ack && ack.ok) readSeq = Math.max(readSeq, ack.last_read_seq || seq);
        });
      }, MARK_READ_DELAY);
    }

    // After a (re)connection: fetch what was missed, page after page, in seq order. `after`
    // stays the same for every page (the cursor moves on): live messages shown meanwhile
    // raise lastSeq, and using it here would skip the rest of the gap.
    function catchUp() {
      if (catchingUp) return catchingUp;
      const after = lastSeq;
      function page(cursor) {
        let url = "/api/v1/conversations/" + conversationId + "/messages?after=" + after;
        if (cursor) url += "&cursor=" + encodeURIComponent(cursor);
        return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
          .then(function (data) {
            (data.items || []).forEach(showMessage);
            if (data.page && data.page.next_cursor) return page(data.page.next_cursor);
            return null;
          });
      }
      catchingUp = page(null).catch(function () { /* the next reconnect tries again */ })
        .then(function () { catchingUp = null; });
      return catchingUp;
    }

    // A message the server has (its seq came in an ack) must end up on the page. One at or
    // below lastSeq is there, or on its way in the catch-up under way (lastSeq never skips).
    function ensureShown(seq) {
      if (document.getElementById("m" + seq) || seq <= lastSeq) return;
      (catchingUp || Promise.resolve()).then(function () {
        if (!document.getElementById("m" + seq) && seq > lastSeq) catchUp();
      });
    }

    // A message past a gap waits for the messages before it (lastSeq must never skip any).
    function showInOrder(m) {
      if (!m || typeof m.seq !== "number") return;
      if (m.seq > lastSeq + 1 && !catchingUp) {
        catchUp().then(function () { showMessage(m); });
        return;
      }
      showMessage(m);
    }

    // --- Sending --------------------------------------------------------------------------

    function emitSend(draft) {
      if (!socket.connected || !joined) return; // re-sent by flushPending after the join
      socket.timeout(10000).emit("send_message", draft, function (err, ack) {
        if (err) return; // no answer: kept in `pending`, re-sent after the reconnect
        if (ack && ack.ok) {
          pending.delete(draft.client_id);
          // A re-send of a message the server already had is answered without a new
          // `message_created`: fetch it if it is not on the page yet.
          ensureShown(ack.seq);
        } else {
          pending.delete(draft.client_id);
          const local = list.querySelector('li.message-pending[data-client-id="' + CSS.escape(draft.client_id) + '"]');
          if (local) {
            local.classList.add("message-failed");
            local.querySelector(".message-meta").textContent =
              "Non envoyé : " + String((ack && ack.error) || "erreur inconnue");
          }
        }
      });
    }

    function flushPending() {
      pending.forEach(function (draft) { emitSend(draft); });
    }

    if (form && textarea) {
      form.addEventListener("submit", function (event) {
        const body = textarea.value.trim();
        const files = fileInput && fileInput.files ? Array.prototype.slice.call(fileInput.files) : [];
        event.preventDefault();
        if (sending) return;
        const problem = !body && !files.length ? "Écrivez un message ou joignez un fichier." :
          checkFiles(files);
        showError(problem); // what was typed stays in the box
        if (problem) return;
        if (files.length) {
          sendWithFiles(body, files);
          return;
        }
        const draft = {
          conversation_id: conversationId,
          client_id: newClientId(),
          body: body,
          priority: urgent && urgent.checked ? "urgent" : "normal",
        };
        pending.set(draft.client_id, draft);
        showPending(draft);
        emitSend(draft);
        textarea.value = "";
        if (urgent) urgent.checked = false;
        stopTyping();
        textarea.focus();
      });

      // Typing: tell the others at most every 3 s; "stopped" after 4 s without a key.
      let typingSent = 0;
      let typingTimer = null;
      function stopTyping() {
        if (typingTimer) window.clearTimeout(typingTimer);
        typingTimer = null;
        if (typingSent && joined) {
          socket.emit("typing", { conversation_id: conversationId, typing: false });
        }
        typingSent = 0;
      }
      textarea.addEventListener("input", function () {
        const now = Date.now();
        if (joined && now - typingSent > 3000) {
          socket.emit("typing", { conversation_id: conversationId, typing: true });
          typingSent = now;
        }
        if (typingTimer) window.clearTimeout(typingTimer);
        typingTimer = window.setTimeout(stopTyping, 4000);
      });
      // Enter sends, Shift+Enter makes a new line.
      textarea.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
    }

    // --- Acknowledgement: through the socket when live, else the plain form posts ----------

    list.addEventListener("submit", function (event) {
      const button = event.target.querySelector("button[data-ack]");
      if (!button || !socket.connected) return;
      event.preventDefault();
      button.disabled = true;
      const messageId = parseInt(button.getAttribute("data-ack"), 10);
      socket.emit("acknowledge", { message_id: messageId }, function (ack) {
        if (!ack || !ack.ok) {
          button.disabled = false;
          setState(String((ack && ack.error) || "Accusé de réception non enregistré."));
        }
      });
    });

    // --- Text with files: one form, XMLHttpRequest to the API for the upload progress -----

    function showError(text) {
      if (!errorBox) return;
      errorBox.textContent = text || "";
      errorBox.hidden = !text;
      if (text) textarea.setAttribute("aria-describedby", "body-hint compose-error");
      else textarea.setAttribute("aria-describedby", "body-hint");
    }

    // The server checks again (type read from the content); this only spares a long upload.
    function checkFiles(files) {
      const maxFiles = parseInt(form.getAttribute("data-max-files"), 10) || 5;
      const maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
      const maxTotal = parseInt(form.getAttribute("data-max-total-bytes"), 10) || 0;
      if (files.length > maxFiles) {
        return "Un message emporte au plus " + maxFiles + " pièces jointes.";
      }
      for (let i = 0; i < files.length; i++) {
        if (!files[i].size) return "Le fichier « " + files[i].name + " » est vide.";
        if (maxBytes && files[i].size > maxBytes) {
          return "« " + files[i].name + " » dépasse la taille maximale d'une pièce jointe (" +
            form.getAttribute("data-max-mb") + " Mo).";
        }
      }
      // The server refuses a larger request as a whole (413), before reading any of it.
      const total = files.reduce(function (sum, f) { return sum + f.size; }, 0);
      if (maxTotal && total > maxTotal) {
        return "Les pièces jointes dépassent ensemble la taille maximale d'un envoi (" +
          Math.floor(maxTotal / (1024 * 1024)) + " Mo) : envoyez-les en plusieurs messages.";
      }
      return "";
    }

    // Kept until the server answers: a retry after a lost answer (the upload was stored but
    // the connection dropped) carries the same id, so the server hands back that message
    // instead of storing it twice.
    let filesClientId = null;

    function sendWithFiles(body, files) {
      const data = new FormData();
      if (!filesClientId) filesClientId = newClientId();
      data.append("client_id", filesClientId);
      data.append("body", body);
      data.append("priority", urgent && urgent.checked ? "urgent" : "normal");
      files.forEach(function (file) { data.append("files", file); });
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("data-api"));
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      sending = true;
      if (submitButton) submitButton.disabled = true;
      progress.value = 0;
      progress.hidden = false;
      uploadState.textContent = files.length > 1 ? "Envoi des pièces jointes…" : "Envoi de la pièce jointe…";
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
      });
      function done() {
        sending = false;
        if (submitButton) submitButton.disabled = false;
        progress.hidden = true;
      }
      xhr.addEventListener("load", function () {
        done();
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
        filesClientId = null; // answered: stored or refused, the next send is a new message
        if (xhr.status === 200 || xhr.status === 201) {
          uploadState.textContent = "Message envoyé.";
          textarea.value = "";
          fileInput.value = "";
          if (urgent) urgent.checked = false;
          showInOrder(answer);
        } else {
          uploadState.textContent = "";
          showError(String(answer.detail || answer.title || ("Échec de l'envoi (" + xhr.status + ").")) +
            " Choisissez de nouveau vos fichiers si besoin.");
        }
      });
      xhr.addEventListener("error", function () {
        done();
        uploadState.textContent = "";
        showError("Échec de l'envoi : connexion interrompue. Votre texte est conservé.");
      });
      xhr.send(data);
    }

    // --- Socket events --------------------------------------------------------------------

    let typingClear = null;
    const typists = new Map();
    function renderTyping() {
      if (!typingBox) return;
      const who = Array.from(typists.values());
      typingBox.textContent = who.length === 0 ? "" :
        who.join(", ") + (who.length > 1 ? " écrivent…" : " écrit…");
    }

    function join() {
      socket.emit("join", { conversation_id: conversationId }, function (ack) {
        if (!ack || !ack.ok) {
          joined = false;
          thread.removeAttribute("data-live");
          setState(String((ack && ack.error) || "Conversation indisponible."));
          return;
        }
        joined = true;
        thread.setAttribute("data-live", "joined");
        readSeq = Math.max(readSeq, ack.last_read_seq || 0);
        (ack.readers || []).forEach(function (r) {
          if (r.name) names.set(r.user_id, String(r.name));
          if (r.seq > (readers.get(r.user_id) || 0)) readers.set(r.user_id, r.seq);
        });
        if (ack.readers && ack.readers.length) renderReadMarkers();
        const next = ack.last_seq > lastSeq ? catchUp() : Promise.resolve();
        next.then(function () {
          flushPending();
          markRead();
        });
      });
    }

    socket.on("connect", function () {
      setState("");
      join();
    });

    // Several server processes: after a change of circle or team every socket of the thread is
    // asked to join again and the room is emptied everywhere; the join re-checks access (and
    // refuses, with its message, whoever lost it) (ptap.messaging.live).
    socket.on("rejoin_required", function (data) {
      if (data && data.conversation_id === conversationId && socket.connected) join();
    });

    socket.on("access_revoked", function (data) {
      if (!data || data.conversation_id !== conversationId) return;
      joined = false;
      thread.removeAttribute("data-live");
      setState("Vous n'avez plus accès à cette conversation.");
    });

    socket.on("disconnect", function () {
      joined = false;
      thread.removeAttribute("data-live");
      typists.clear(); // their `typing: false` may be lost meanwhile
      renderTyping();
      setState("Connexion perdue : reconnexion en cours… Vos messages partiront au retour de la connexion.");
    });

    socket.on("message_created", function (m) {
      if (!m || m.conversation_id !== conversationId) return;
      typists.delete(m.author_id);
      renderTyping();
      showInOrder(m);
    });

    socket.on("message_updated", function (m) {
      if (m && m.conversation_id === conversationId && document.getElementById("m" + m.seq)) {
        showMessage(m);
      }
    });

    // One frame per conversation and short window names every reader (server-side coalescing).
    socket.on("read_receipts", function (data) {
      if (!data || data.conversation_id !== conversationId || !Array.isArray(data.readers)) return;
      let changed = false;
      data.readers.forEach(function (r) {
        if (!r || typeof r.seq !== "number") return;
        if (r.user_id === userId) {
          readSeq = Math.max(readSeq, r.seq); // read in another tab
          return;
        }
        if (r.name) names.set(r.user_id, String(r.name));
        if (r.seq > (readers.get(r.user_id) || 0)) {
          readers.set(r.user_id, r.seq);
          changed = true;
        }
      });
      if (changed) renderReadMarkers();
    });

    socket.on("typing", function (data) {
      if (!data || data.conversation_id !== conversationId || data.user_id === userId) return;
      if (data.name && !names.has(data.user_id)) {
        names.set(data.user_id, String(data.name));
        if (readers.has(data.user_id)) renderReadMarkers(); // "1 membre" gets a name
      }
      if (data.typing) typists.set(data.user_id, String(data.name || "Quelqu'un"));
      else typists.delete(data.user_id);
      renderTyping();
      if (typingClear) window.clearTimeout(typingClear);
      typingClear = window.setTimeout(function () { typists.clear(); renderTyping(); }, 8000);
    });

    document.addEventListener("visibilitychange", markRead);
  }
})();
