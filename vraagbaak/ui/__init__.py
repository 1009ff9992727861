"""The web app (Gradio): a thin adapter over :class:`vraagbaak.Vraagbaak`.

Nothing here is imported by ``import vraagbaak``; gradio loads only when the app is built
(:func:`vraagbaak.ui.app.build_app`) or served (``vraagbaak ui``).
"""
