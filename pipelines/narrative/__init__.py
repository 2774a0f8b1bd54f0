"""The words around the numbers: finding sentences (screen and PDF) and the Methodology text.

`findings` reads released rows and says what they show; `methodology` generates the definitions of
every measure, item and setting from the contract and the catalogues, so the text cannot drift from
the numbers. No Streamlit, no SQL.
"""
