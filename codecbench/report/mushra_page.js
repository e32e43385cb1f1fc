/* The MUSHRA listening page of codecbench (ITU-R BS.1534-3); see codecbench/report/mushra_page.py. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("mushra-config").textContent);
  var app = document.getElementById("app");
  var STORE = "codecbench-mushra:" + cfg.test_id;
  var BANDS = ["Excellent", "Good", "Fair", "Poor", "Bad"];
  var LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  var n = cfg.trials.length;
  var state = null;  // the session: kept in localStorage after every change
  var page = null;   // the page on screen: its trial, audio elements, what plays

  function randomInt(k) {
    var a = new Uint32Array(1);
    crypto.getRandomValues(a);
    return a[0] % k;
  }
  function shuffled(xs) {
    var a = xs.slice();
    for (var i = a.length - 1; i > 0; i--) {
      var j = randomInt(i + 1), t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
  function hex(bytes) {
    var a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function save() {
    try { localStorage.setItem(STORE, JSON.stringify(state)); } catch (err) { /* private mode: the CSV still works */ }
  }
  function saved() {
    try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch (err) { return null; }
  }

  function newSession(listener) {
    var positions = {};
    cfg.trials.forEach(function (t) {
      positions[t.id] = shuffled(t.conditions.map(function (c) { return c.key; }));
    });
    positions[cfg.training.id] = cfg.training.conditions.map(function (c) { return c.key; });
    return {format: cfg.format, test_id: cfg.test_id, session: hex(8), listener: listener,
            started_at: new Date().toISOString(), order: shuffled(cfg.trials.map(function (t, i) { return i; })),
            positions: positions, step: 0, ratings: {}, plays: {}, heard: {}, times: {}, finished: false};
  }
  function trialAt(step) { return step === 0 ? cfg.training : cfg.trials[state.order[step - 1]]; }
  function bucket(name, id) { return (state[name][id] = state[name][id] || {}); }

  // -- pages ------------------------------------------------------------------------------------

  function show(node, step) {
    stopAll();
    app.textContent = "";
    app.appendChild(node);
    document.body.setAttribute("data-step", String(step));
    window.scrollTo(0, 0);
  }

  function showWelcome() {
    var node = document.getElementById("welcome").content.cloneNode(true);
    var box = node.querySelector(".resume"), old = saved();
    if (old && old.test_id === cfg.test_id && old.listener) {
      box.hidden = false;
      box.querySelector(".resume-text").textContent = "This browser holds the " + (old.finished ? "finished" : "unfinished")
        + " session of " + old.listener + " (started " + old.started_at.slice(0, 16).replace("T", " ") + ", "
        + (old.finished ? "all pages done" : "page " + (old.step + 1) + " of " + (n + 1)) + ").";
      box.querySelector(".resume-go").addEventListener("click", function () { state = old; showStep(state.step); });
      box.querySelector(".resume-csv").addEventListener("click", function () { download(old, box); });
    }
    var input = node.querySelector(".listener"), why = node.querySelector(".why");
    node.querySelector(".start").addEventListener("click", function () {
      var name = input.value.trim();
      if (!name) { why.textContent = "Type a listener id first."; input.focus(); return; }
      if (old && !old.finished && !window.confirm("Replace the unfinished session of " + old.listener
          + " kept in this browser? Download its ratings first if you need them.")) return;
      state = newSession(name);
      save();
      showStep(0);
    });
    show(node, -1);
  }

  function showStep(step) {
    if (step > n) { showFinish(); return; }
    var trial = trialAt(step), training = step === 0, id = trial.id;
    var byKey = {};
    trial.conditions.forEach(function (c) { byKey[c.key] = c; });
    var keys = state.positions[id];
    var sec = el("section", {"class": "mushra", "data-trial": id});
    sec.appendChild(el("h2", {}, training ? "Training (not scored)" : "Page " + step + " of " + n));
    sec.appendChild(el("p", {"class": "hint"}, training
      ? "Listen to the reference and to every condition, named here, to learn the range of quality you will "
        + "hear, and set the volume. The test pages hide the names and shuffle the order."
      : "Rate every condition against the reference. One of them is the hidden reference."));
    var controls = el("div", {"class": "controls"});
    var refBtn = el("button", {type: "button", "class": "ref"}, "\u25B6 Reference");
    var stopBtn = el("button", {type: "button", "class": "stop"}, "\u25A0 Stop");
    var loopLabel = el("label"), loop = el("input", {type: "checkbox", "class": "loop"});
    loop.checked = true;
    loopLabel.appendChild(loop);
    loopLabel.appendChild(document.createTextNode(" Loop"));
    [refBtn, stopBtn, loopLabel].forEach(function (x) { controls.appendChild(x); });
    sec.appendChild(controls);

    var board = el("div", {"class": "board"}), scale = el("div", {"class": "scale"});
    BANDS.forEach(function (b) { scale.appendChild(el("div", {}, b)); });
    board.appendChild(scale);
    var sounds = el("div", {hidden: ""});
    page = {trial: trial, id: id, step: step, keys: keys, audios: {}, buttons: {}, current: null,
            started: performance.now(), loop: loop};
    page.ref = audio(trial.reference, "reference", sounds);
    page.buttons.ref = refBtn;
    keys.forEach(function (key, i) {
      var letter = LETTERS[i] || String(i + 1);
      var col = el("div", {"class": "cond", "data-key": key, "data-position": String(i + 1)});
      var value = el("div", {"class": "value"});
      var slider = el("input", {type: "range", min: "0", max: "100", step: "1", "aria-label": "score of " + letter});
      var btn = el("button", {type: "button", "class": "play", title: "key " + (i + 1)}, "\u25B6 " + letter);
      col.appendChild(value);
      col.appendChild(slider);
      col.appendChild(btn);
      col.appendChild(el("div", {"class": "label"}, training ? byKey[key].label : ""));
      board.appendChild(col);
      page.audios[key] = audio(byKey[key].file, key, sounds);
      page.buttons[key] = btn;
      var rated = bucket("ratings", id)[key];
      slider.value = rated === undefined ? "0" : String(rated);
      function rate() {
        bucket("ratings", id)[key] = Number(slider.value);
        save();
        refresh();
      }
      slider.addEventListener("input", rate);
      slider.addEventListener("change", rate);
      slider.addEventListener("pointerdown", function () { if (bucket("ratings", id)[key] === undefined) rate(); });
      btn.addEventListener("click", function () { play(key); });
    });
    sec.appendChild(board);
    sec.appendChild(sounds);
    refBtn.addEventListener("click", function () { play("ref"); });
    stopBtn.addEventListener("click", stopAll);
    loop.addEventListener("change", function () { if (page.current) page.current.loop = loop.checked; });

    var nav = el("div", {"class": "nav"});
    var prev = el("button", {type: "button", "class": "prev"}, "\u2190 Previous");
    var next = el("button", {type: "button", "class": "next primary"}, step === n ? "Finish" : "Next \u2192");
    prev.disabled = step === 0;
    nav.appendChild(prev);
    nav.appendChild(el("span", {"class": "why"}));
    nav.appendChild(el("span", {"class": "progress"}, training ? "training" : step + " / " + n));
    nav.appendChild(next);
    sec.appendChild(nav);
    prev.addEventListener("click", function () { leave(step - 1); });
    next.addEventListener("click", function () { if (!next.disabled) leave(step + 1); });
    page.sec = sec;
    show(sec, step);
    refresh();
  }

  function audio(file, key, parent) {
    var a = el("audio", {preload: "auto", "data-key": key});
    a.src = file;
    a.addEventListener("playing", function () {  // it really plays: the condition counts as heard
      if (page && a !== page.ref) { bucket("heard", page.id)[key] = true; save(); }
      refresh();
    });
    ["pause", "ended", "play"].forEach(function (ev) { a.addEventListener(ev, refresh); });
    a.addEventListener("error", function () {
      var why = page && page.sec.querySelector(".nav .why");
      if (why) why.textContent = "Cannot load " + file + ": keep the stimuli folder next to this page.";
      document.body.setAttribute("data-audio-error", file);
    });
    parent.appendChild(a);
    return a;
  }

  function play(key) {
    var a = key === "ref" ? page.ref : page.audios[key];
    var playing = page.current && !page.current.paused ? page.current : null;
    if (playing === a) { stopAll(); return; }
    var at = playing ? playing.currentTime : 0;
    stopAll();
    a.currentTime = isFinite(a.duration) && at < a.duration ? at : 0;
    a.loop = page.loop.checked;
    page.current = a;
    if (key !== "ref") {
      var plays = bucket("plays", page.id);
      plays[key] = (plays[key] || 0) + 1;
      save();
    }
    var p = a.play(), shown = page;
    if (p && p.catch) {
      p.catch(function (err) {  // a pause, a switch or leaving the page interrupts play(): not an error
        if (err && err.name === "AbortError") return;
        if (page === shown) page.sec.querySelector(".nav .why").textContent = "Cannot play: " + err;
      });
    }
  }

  function stopAll() {
    if (!page) return;
    [page.ref].concat(Object.keys(page.audios).map(function (k) { return page.audios[k]; })).forEach(function (a) {
      a.pause();
      a.currentTime = 0;
    });
    page.current = null;
  }

  function refresh() {
    if (!page || !page.sec) return;
    var heard = bucket("heard", page.id), ratings = bucket("ratings", page.id);
    var training = page.step === 0, unheard = [], unrated = [];
    page.keys.forEach(function (key, i) {
      var letter = LETTERS[i] || String(i + 1);
      var col = page.sec.querySelector('.cond[data-key="' + CSS.escape(key) + '"]');
      var r = ratings[key];
      col.classList.toggle("untouched", r === undefined);
      col.classList.toggle("unheard", !heard[key]);
      col.querySelector(".value").textContent = r === undefined ? "\u2013" : String(r);
      if (!heard[key]) unheard.push(letter);
      if (r === undefined && !training) unrated.push(letter);
    });
    Object.keys(page.buttons).forEach(function (k) {
      var a = k === "ref" ? page.ref : page.audios[k];
      page.buttons[k].classList.toggle("playing", !a.paused);
    });
    var parts = [];
    if (unheard.length) parts.push("play " + unheard.join(", "));
    if (unrated.length) parts.push("rate " + unrated.join(", "));
    var why = page.sec.querySelector(".nav .why");
    if (!why.textContent.startsWith("Cannot")) why.textContent = parts.length ? "To go on: " + parts.join("; ") : "";
    page.sec.querySelector(".next").disabled = parts.length > 0;
  }

  function leave(step) {
    state.times[page.id] = (state.times[page.id] || 0) + (performance.now() - page.started);
    state.step = step;
    save();
    showStep(step);
  }

  function showFinish() {
    page = null;
    state.finished = true;
    state.step = n + 1;
    save();
    var node = document.getElementById("finish").content.cloneNode(true);
    var box = node.querySelector(".download").parentNode;
    node.querySelector(".csv").value = toCsv(state);
    node.querySelector(".download").addEventListener("click", function () { download(state, box); });
    show(node, n + 1);
  }

  // -- the ratings CSV ------------------------------------------------------------------------------

  function field(v) {
    var s = v === undefined || v === null ? "" : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function toCsv(st) {
    var lines = [cfg.columns.join(",")];
    for (var step = 0; step <= n; step++) {
      var trial = step === 0 ? cfg.training : cfg.trials[st.order[step - 1]], id = trial.id;
      var ratings = st.ratings[id] || {}, plays = st.plays[id] || {};
      st.positions[id].forEach(function (key, i) {
        if (ratings[key] === undefined) return;  // never a silent 0
        var row = {format: cfg.format, session_test_id: cfg.test_id, session: st.session, listener: st.listener,
                   trial_id: id, page: step, rating_stimulus: key, position: i + 1, rating_score: ratings[key],
                   rating_time: Math.round(st.times[id] || 0), plays: plays[key] || 0, rating_comment: ""};
        lines.push(cfg.columns.map(function (c) { return field(row[c]); }).join(","));
      });
    }
    return lines.join("\r\n") + "\r\n";
  }

  function download(st, box) {
    var name = "mushra_" + st.listener.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 40) + "_" + st.session.slice(0, 8) + ".csv";
    var url = URL.createObjectURL(new Blob([toCsv(st)], {type: "text/csv"}));
    var a = el("a", {href: url, download: name});
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    var note = box && box.querySelector(".saved");
    if (note) note.textContent = "saved as " + name;
  }

  document.addEventListener("keydown", function (ev) {
    if (!page || (ev.target && ev.target.type === "text")) return;
    if (ev.key === " ") { ev.preventDefault(); stopAll(); refresh(); return; }
    if (ev.key === "r" || ev.key === "R") { play("ref"); return; }
    var d = Number(ev.key);
    if (d >= 1 && d <= page.keys.length) play(page.keys[d - 1]);
  });

  window.mushra = {state: function () { return state; }, csv: function () { return toCsv(state); }};
  showWelcome();
})();
