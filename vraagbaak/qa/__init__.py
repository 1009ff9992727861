"""The question pipeline and what it is made of (see :mod:`.pipeline`, read top-down):

- :mod:`.question`: a question analysed once; :mod:`.search`: retrievers, scores, ranking;
  :mod:`.fusion`: pure fusion functions; :mod:`.answer`: answer sentences and quotes;
  :mod:`.reader`: the optional reading model; :mod:`.abstain`: evidence and confidence;
- around it: :mod:`.citation` (one citation for CLI, JSON, web app, exports),
  :mod:`.topic` (the topic view), :mod:`.export` (Markdown), :mod:`.confidence`.
"""
