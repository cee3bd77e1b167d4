// Admin lists: a long value (an address, an id, a Message-ID) may wrap after "@", ".", "/"
// and the like, as crmsync/wrapping.py lets the pages' own values wrap; short words never
// break (admin.css: overflow-wrap: break-word). The break chances are <wbr> elements, so
// copying a value copies it whole.
(function () {
  "use strict";
  var LONG = /\S{20,}/;
  var AFTER = /([@./_=+:;,&?|\\-])(?=\S)/g;
  var CHUNK = 24;

  // A word of 20 characters or more, cut after its punctuation; a run without any, longer
  // than any word, every CHUNK characters.
  function pieces(word) {
    var out = [];
    word.replace(AFTER, "$1\u0000").split("\u0000").forEach(function (part) {
      if (part.length <= CHUNK) {
        out.push(part);
        return;
      }
      for (var i = 0; i < part.length; i += CHUNK) {
        out.push(part.slice(i, i + CHUNK));
      }
    });
    return out;
  }

  function addBreakChances(cell) {
    var walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    var nodes = [];
    while (walker.nextNode()) {
      if (LONG.test(walker.currentNode.nodeValue)) {
        nodes.push(walker.currentNode);
      }
    }
    nodes.forEach(function (node) {
      var fragment = document.createDocumentFragment();
      node.nodeValue.split(/(\s+)/).forEach(function (word) {
        if (!LONG.test(word)) {
          fragment.appendChild(document.createTextNode(word));
          return;
        }
        pieces(word).forEach(function (piece, index) {
          if (index > 0) {
            fragment.appendChild(document.createElement("wbr"));
          }
          fragment.appendChild(document.createTextNode(piece));
        });
      });
      node.parentNode.replaceChild(fragment, node);
    });
  }

  function run() {
    document.querySelectorAll("#result_list tbody td, #result_list tbody th").forEach(addBreakChances);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
})();
