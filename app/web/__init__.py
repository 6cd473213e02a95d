"""The search page (Gradio): the only package of tempme that imports gradio.

``page`` lays the page out and builds it (`build_demo`), ``events`` wires what each control
does (handlers with named outputs, over `tempme.app.context.AppContext`), ``endpoints`` the
gradio_client API, ``render`` the HTML and text of results, ``state`` what the page is
showing, ``server`` launches it (`tempme serve`); ``assets/`` holds its CSS and scripts.
"""
